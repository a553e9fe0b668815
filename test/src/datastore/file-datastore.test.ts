// test-runner: machine-free: its only process is mkfifo in a scratch directory.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, test } from "node:test";
import { firstValueFrom } from "rxjs";
import type { ResourceUpdate } from "../../../model/resource.js";
import { isAheadDone, isPartial } from "../../../src/datastore/batch.js";
import { FileDatastore, type FileDatastoreOptions } from "../../../src/datastore/file-datastore.js";
import { fsManifestReader, type ManifestReader } from "../../../src/datastore/manifest-reader.js";
import type { ManifestProblem } from "../../../src/datastore/manifests.js";
import { until } from "../../helpers/until.js";

const ns = (name: string, team = "a") =>
  `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}, labels: {team: ${team}}}\n`;

describe("FileDatastore", () => {
  test("the first batch is the directory; later batches hold only what changed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "felix-fds-"));
    const batches: ResourceUpdate[][] = [];
    const sub = new FileDatastore({ dir, watch: true, debounceMs: 10 }).updates().subscribe((b) => {
      batches.push(b);
      // A change made the moment the in-sync batch arrives must not be missed.
      if (batches.length === 1) writeFileSync(join(dir, "b.yaml"), ns("b"));
    });
    try {
      writeFileSync(join(dir, "a.yaml"), ns("a"));
      await until(() => batches.some((b) => b.some((u) => u.name === "b")), "the file written right after sync");
      writeFileSync(join(dir, "a.yaml"), ns("a", "z"));
      await until(() => batches.at(-1)?.some((u) => u.name === "a") ?? false, "a modified");
      assert.deepEqual(
        batches.at(-1)?.map((u) => u.name),
        ["a"],
      );
      writeFileSync(join(dir, "a.yaml"), "kind: Namespace\nmetadata: {name: [broken\n");
      rmSync(join(dir, "b.yaml"));
      await until(() => batches.at(-1)?.some((u) => u.name === "b" && u.value === null) ?? false, "b deleted");
      assert.ok(!batches.at(-1)?.some((u) => u.name === "a"), "a broken file keeps what it held");
    } finally {
      sub.unsubscribe();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ─── O(change), bursts, and hostile or racing writers ───────────────────────

const policy = (name: string, port: number) =>
  [
    "apiVersion: networking.k8s.io/v1",
    "kind: NetworkPolicy",
    `metadata: {name: ${name}, namespace: prod}`,
    "spec:",
    "  podSelector: {matchLabels: {app: db}}",
    "  ingress:",
    "    - from:",
    "        - podSelector: {matchLabels: {app: api}}",
    "      ports:",
    `        - {port: ${port}, protocol: TCP}`,
    "",
  ].join("\n");

/** Runs a watching datastore over a fresh directory; `fill` writes the initial files. */
async function withDatastore(
  o: Partial<FileDatastoreOptions>,
  fill: (dir: string) => void,
  body: (t: {
    dir: string;
    batches: ResourceUpdate[][];
    problems: ManifestProblem[];
    reads: string[];
    sigs: string[];
    /** The reads and stats made through the reader's `now` (main thread), also in reads and sigs. */
    now: string[];
  }) => Promise<void>,
) {
  const dir = mkdtempSync(join(tmpdir(), "felix-fds-"));
  fill(dir);
  const batches: ResourceUpdate[][] = [];
  const problems: ManifestProblem[] = [];
  const reads: string[] = [];
  const sigs: string[] = [];
  const now: string[] = [];
  const counting = (inner: ManifestReader, also?: string[]): ManifestReader => ({
    sig: (p) => {
      sigs.push(relative(dir, p));
      also?.push(`sig ${relative(dir, p)}`);
      return inner.sig(p);
    },
    read: (p, max) => {
      reads.push(relative(dir, p));
      also?.push(`read ${relative(dir, p)}`);
      return inner.read(p, max);
    },
  });
  const reader: ManifestReader = {
    ...counting(fsManifestReader),
    now: counting(fsManifestReader.now as ManifestReader, now),
  };
  const sub = new FileDatastore({ dir, watch: true, debounceMs: 30, reader, onProblem: (p) => problems.push(p), ...o })
    .updates()
    .subscribe((b) => batches.push(b));
  try {
    await until(() => batches.length > 0, "in sync");
    await body({ dir, batches, problems, reads, sigs, now });
  } finally {
    sub.unsubscribe();
    rmSync(dir, { recursive: true, force: true });
  }
}

const names = (b: ResourceUpdate[] | undefined) => (b ?? []).map((u) => `${u.name}${u.value ? "" : " (deleted)"}`);

describe("FileDatastore: cost and safety", () => {
  test("a change to one file reads only that file and emits only the object that changed", async () => {
    await withDatastore(
      {},
      (dir) => {
        for (let i = 0; i < 20; i++) writeFileSync(join(dir, `f${i}.yaml`), `${ns(`a${i}`)}---\n${ns(`b${i}`)}`);
      },
      async ({ dir, batches, reads, sigs, now }) => {
        assert.equal(reads.length, 20);
        assert.deepEqual(sigs, [], "files never read are read at once, without a stat first");
        assert.deepEqual(now, [], "the first pass reads on the thread pool, ahead of its turn");
        assert.equal(batches[0].length, 40);
        reads.length = 0;
        writeFileSync(join(dir, "f7.yaml"), `${ns("a7")}---\n${ns("b7", "changed")}`);
        await until(() => batches.length === 2, "the change");
        assert.deepEqual(reads, ["f7.yaml"]);
        assert.deepEqual(now, ["sig f7.yaml", "read f7.yaml"], "a named file is stat'ed and read on the main thread");
        assert.deepEqual(names(batches[1]), ["b7"]);
        // Touching a file without changing its objects emits nothing.
        writeFileSync(join(dir, "f3.yaml"), `${ns("a3")}---\n${ns("b3")}`);
        await until(() => reads.length === 2, "the touch");
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(batches.length, 2);
      },
    );
  });

  test("an idle directory is left alone: the root check stats the root, never the files", async () => {
    await withDatastore(
      { rootCheckMs: 5 },
      (dir) => {
        mkdirSync(join(dir, "sub"));
        for (let i = 0; i < 5; i++) writeFileSync(join(dir, "sub", `f${i}.yaml`), ns(`a${i}`));
      },
      async ({ dir, batches, sigs, reads }) => {
        // Twenty root-check periods (each found the root unchanged, so none may lead to a pass).
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(sigs, [], "no file was stat'ed: no full pass ran");
        assert.equal(reads.length, 5);
        assert.equal(batches.length, 1);
        // And a change is still seen.
        writeFileSync(join(dir, "sub", "f2.yaml"), ns("a2", "changed"));
        await until(() => batches.length === 2, "the change");
        assert.deepEqual(sigs, ["sub/f2.yaml"]);
      },
    );
  });

  test("files replaced by rename, again and again, and new subdirectories are followed", async () => {
    await withDatastore(
      { confirmDropMs: 0 },
      (dir) => {
        mkdirSync(join(dir, "sub"));
        writeFileSync(join(dir, "sub", "a.yaml"), ns("a"));
      },
      async ({ dir, batches }) => {
        const replace = (file: string, text: string) => {
          writeFileSync(join(dir, "sub", ".tmp"), text);
          renameSync(join(dir, "sub", ".tmp"), join(dir, "sub", file));
        };
        replace("a.yaml", `${ns("a")}---\n${ns("b")}`);
        await until(() => batches.length === 2, "the first replacement");
        replace("a.yaml", ns("a"));
        await until(() => batches.length === 3, "the second replacement");
        assert.deepEqual(names(batches[2]), ["b (deleted)"]);
        mkdirSync(join(dir, "sub", "deeper"));
        writeFileSync(join(dir, "sub", "deeper", "c.yaml"), ns("c"));
        await until(() => batches.some((b) => names(b).includes("c")), "a file in a new subdirectory");
        writeFileSync(join(dir, "sub", "deeper", "c.yaml"), ns("c", "z"));
        await until(() => batches.at(-1)?.[0]?.value?.metadata?.labels?.team === "z", "its change");
        rmSync(join(dir, "sub"), { recursive: true });
        await until(() => names(batches.at(-1)).includes("a (deleted)"), "the subdirectory removed");
      },
    );
  });

  test("a burst of writes to many files is one batch", async () => {
    await withDatastore(
      { debounceMs: 300 },
      () => {},
      async ({ dir, batches }) => {
        for (let i = 0; i < 10; i++) writeFileSync(join(dir, `n${i}.yaml`), ns(`n${i}`));
        await until(() => batches.length === 2, "the burst");
        assert.equal(batches[1].length, 10);
      },
    );
  });

  test("a half-written file never withdraws a policy in force", async () => {
    const full = `${policy("p1", 5432)}---\n${policy("p2", 6379)}`;
    await withDatastore(
      { debounceMs: 30, confirmDropMs: 1000 },
      (dir) => writeFileSync(join(dir, "pol.yaml"), full),
      async ({ dir, batches }) => {
        // An in-place writer that pauses (longer than the quiet period) after the first document.
        const next = full.replace("5432", "5433");
        const cut = next.indexOf("---\n");
        const fd = openSync(join(dir, "pol.yaml"), "r+");
        ftruncateSync(fd, 0);
        writeSync(fd, next.slice(0, cut), 0);
        await until(() => batches.length === 2, "the first document read");
        assert.deepEqual(names(batches[1]), ["p1"], "p1 changed, p2 not withdrawn");
        writeSync(fd, next.slice(cut), cut);
        closeSync(fd);
        // Then a writer that dies mid-line: the file does not parse, nothing changes.
        writeFileSync(join(dir, "pol.yaml"), full.slice(0, full.indexOf("{matchLabels: {app: api}") + 8));
        await new Promise((r) => setTimeout(r, 300));
        for (const b of batches) for (const u of b) assert.ok(u.value, `${u.name} was never withdrawn`);
        assert.equal(batches.length, 2);
        // A real removal from a file that stays is confirmed by a later read, then withdrawn.
        writeFileSync(join(dir, "pol.yaml"), policy("p1", 5433));
        await until(() => batches.length === 3, "the confirmed removal");
        assert.deepEqual(names(batches[2]), ["p2 (deleted)"]);
      },
    );
  });

  test("a file read while it changes is read again once quiet", async () => {
    const dir = mkdtempSync(join(tmpdir(), "felix-fds-"));
    writeFileSync(join(dir, "a.yaml"), ns("a"));
    let unstable = 2;
    const reader: ManifestReader = {
      sig: (p) => fsManifestReader.sig(p),
      read: async (p, max) => (unstable-- > 0 ? { status: "unstable" } : fsManifestReader.read(p, max)),
    };
    const first = await firstValueFrom(new FileDatastore({ dir, watch: false, reader }).updates());
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(names(first), ["a"]);
  });

  test("a pass reads files ahead of their turn, a bounded number at once, and takes them in path order", async () => {
    const dir = mkdtempSync(join(tmpdir(), "felix-fds-"));
    const files = Array.from({ length: 30 }, (_, i) => `n${String(i).padStart(2, "0")}`);
    // Written in reverse: the batch order must come from the paths, not from the order reads finish in.
    for (const n of [...files].reverse()) writeFileSync(join(dir, `${n}.yaml`), ns(n));
    let inFlight = 0;
    let most = 0;
    const held: (() => void)[] = [];
    const reader: ManifestReader = {
      sig: (p) => fsManifestReader.sig(p),
      read: async (p, max) => {
        inFlight++;
        most = Math.max(most, inFlight);
        // Each read waits until the next one has started (or nothing more can start): reads overlap only if
        // the datastore starts them ahead of their turn, and the last ones are finished in reverse order.
        await new Promise<void>((r) => {
          held.push(r);
          setImmediate(() => {
            if (held.length > 1 || inFlight === held.length) for (const h of held.splice(0).reverse()) h();
          });
        });
        inFlight--;
        return fsManifestReader.read(p, max);
      },
    };
    const first = await firstValueFrom(new FileDatastore({ dir, watch: false, reader }).updates());
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(names(first), files);
    assert.ok(most > 1, `reads overlapped (at most ${most} at once)`);
    assert.ok(most <= 8, `at most 8 reads at once, not ${most}`);
  });

  test("without watching (--once), a duplicate is the definition whose path sorts last, whole or in parts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "felix-fds-"));
    writeFileSync(join(dir, "a.yaml"), ns("dup", "first"));
    writeFileSync(join(dir, "c.yaml"), ns("dup", "last"));
    try {
      for (const partial of [false, true]) {
        const got: ResourceUpdate[] = [];
        await new Promise<void>((complete) =>
          new FileDatastore({ dir, watch: false }).updates({ partial }).subscribe({
            next: (b) => got.push(...b),
            complete,
          }),
        );
        // Downstream takes the updates in order: the last one for the key is what it holds.
        const last = got.filter((u) => u.name === "dup").at(-1);
        const labels = (last?.value as { metadata?: { labels?: Record<string, string> } } | null)?.metadata?.labels;
        assert.equal(labels?.team, "last", `partial: ${partial}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("with ahead, the files that provably hold none of those kinds wait for a mark: no such kind after it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "felix-fds-"));
    const svc = (name: string, ip: string) =>
      `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: a}\nspec: {clusterIP: ${ip}, ports: [{port: 80}]}\n`;
    writeFileSync(join(dir, "a.yaml"), `${ns("a1")}---\n${svc("mixed", "10.96.0.1")}`);
    writeFileSync(join(dir, "b.yaml"), `${svc("dup", "10.96.0.2")}---\n${svc("s1", "10.96.0.3")}`);
    writeFileSync(join(dir, "c.yaml"), `# namespaces\n---\nkind: Namespace\napiVersion: v1\nmetadata: {name: c1}\n`);
    // Block documents that name another kind, then a flow document that is a Service: read ahead.
    writeFileSync(
      join(dir, "d.yaml"),
      `${ns("d1")}---\n{apiVersion: v1, kind: Service, metadata: {name: d2, namespace: a}}\n`,
    );
    writeFileSync(
      join(dir, "e.json"),
      JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "j1", namespace: "a" },
        spec: { clusterIP: "10.96.0.5", ports: [{ port: 80 }] },
      }),
    );
    writeFileSync(join(dir, "f.yaml"), svc("dup", "10.96.0.9"));
    const read = async (ahead?: ReadonlySet<string>) => {
      const got: { names: string[]; partial: boolean; mark: boolean }[] = [];
      const all: ResourceUpdate[] = [];
      await new Promise<void>((complete) =>
        new FileDatastore({ dir, watch: false }).updates({ partial: true, ahead }).subscribe({
          next: (b) => {
            got.push({ names: names(b), partial: isPartial(b), mark: isAheadDone(b) });
            all.push(...b);
          },
          complete,
        }),
      );
      // What downstream ends up holding: the last update of each key.
      const held = new Map(all.map((u) => [`${u.kind}/${u.name}`, JSON.stringify(u.value)]));
      return { got, held: [...held].sort() };
    };
    try {
      const plain = await read();
      const ahead = await read(new Set(["Service"]));
      assert.deepEqual(ahead.got, [
        { names: ["a1", "mixed"], partial: true, mark: false },
        { names: ["dup", "s1"], partial: true, mark: false },
        { names: ["d1", "d2"], partial: true, mark: false },
        { names: ["j1"], partial: true, mark: false },
        { names: ["dup"], partial: true, mark: false },
        { names: [], partial: true, mark: true },
        { names: ["c1"], partial: true, mark: false },
        { names: [], partial: false, mark: false },
      ]);
      assert.deepEqual(ahead.held, plain.held);
      assert.ok(
        plain.got.every((b) => !b.mark),
        "no mark without ahead",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("with partial, the first batch comes in parts, one per file, and later batches whole", async () => {
    const dir = mkdtempSync(join(tmpdir(), "felix-fds-"));
    writeFileSync(join(dir, "a.yaml"), `${ns("a1")}---\n${ns("dup", "first")}`);
    writeFileSync(join(dir, "b.yaml"), ns("b1"));
    writeFileSync(join(dir, "c.yaml"), `${ns("dup", "last")}---\n${ns("c1")}`);
    const got: { names: string[]; partial: boolean }[] = [];
    const sub = new FileDatastore({ dir, watch: true, debounceMs: 10 })
      .updates({ partial: true })
      .subscribe((b) => got.push({ names: names(b), partial: isPartial(b) }));
    try {
      await until(() => got.some((b) => !b.partial), "in sync");
      // Each file's objects as it is read; the last part completes the batch. The duplicate comes twice:
      // the later file's definition (its path sorts last) after the earlier one, as an update would.
      assert.deepEqual(got, [
        { names: ["a1", "dup"], partial: true },
        { names: ["b1"], partial: true },
        { names: ["dup", "c1"], partial: true },
        { names: [], partial: false },
      ]);
      writeFileSync(join(dir, "b.yaml"), `${ns("b1", "changed")}---\n${ns("b2")}`);
      await until(() => got.length === 5, "the change");
      assert.deepEqual(got[4], { names: ["b1", "b2"], partial: false });
    } finally {
      sub.unsubscribe();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a file over the size limit is skipped with a clear error; one that grows over it keeps what it held", async () => {
    await withDatastore(
      { maxFileBytes: 2000 },
      (dir) => {
        writeFileSync(join(dir, "big.yaml"), `${ns("big")}# ${"x".repeat(3000)}\n`);
        writeFileSync(join(dir, "ok.yaml"), policy("p1", 80));
      },
      async ({ dir, batches, problems }) => {
        assert.deepEqual(names(batches[0]), ["p1"]);
        assert.match(problems[0].message, /^file is 3\d{3} bytes, over the limit of 2000/);
        writeFileSync(join(dir, "ok.yaml"), `${policy("p1", 81)}# ${"y".repeat(3000)}\n`);
        await until(() => problems.length === 2, "the grown file refused");
        assert.match(problems[1].message, /over the limit/);
        writeFileSync(join(dir, "ok.yaml"), policy("p1", 82));
        await until(() => batches.length === 2, "back under the limit");
        assert.deepEqual(names(batches[1]), ["p1"]);
      },
    );
  });

  test("a FIFO or device in the directory is skipped without blocking", async () => {
    await withDatastore(
      {},
      (dir) => {
        execFileSync("mkfifo", [join(dir, "fifo.yaml")]);
        writeFileSync(join(dir, "a.yaml"), ns("a"));
      },
      async ({ dir, batches, problems }) => {
        assert.deepEqual(names(batches[0]), ["a"]);
        // A FIFO put in a manifest's place: refused without blocking, the manifest's objects stay.
        execFileSync("mkfifo", [join(dir, ".tmp-fifo")]);
        renameSync(join(dir, ".tmp-fifo"), join(dir, "a.yaml"));
        execFileSync("mkfifo", [join(dir, "b.yaml")]);
        writeFileSync(join(dir, "c.yaml"), ns("c"));
        await until(() => batches.length === 2, "c, past the FIFOs");
        assert.deepEqual(names(batches[1]), ["c"]);
        assert.ok(problems.some((p) => /not a regular file/.test(p.message)));
      },
    );
  });

  test("a duplicate object in two files is reported; the path that sorts last wins", async () => {
    await withDatastore(
      {},
      (dir) => writeFileSync(join(dir, "a.yaml"), ns("x", "from-a")),
      async ({ dir, batches, problems }) => {
        writeFileSync(join(dir, "b.yaml"), ns("x", "from-b"));
        await until(() => batches.length === 2, "the duplicate");
        assert.match(problems.at(-1)!.message, /^Namespace\/\/x is also defined in .*a\.yaml:1; this definition wins/);
        const team = (b: ResourceUpdate[] | undefined) => b?.[0]?.value?.metadata?.labels?.team;
        assert.equal(team(batches[1]), "from-b");
        rmSync(join(dir, "b.yaml"));
        await until(() => batches.length === 3, "the winner removed");
        assert.equal(team(batches[2]), "from-a");
      },
    );
  });

  test("a replaced directory is picked up again", async () => {
    await withDatastore(
      { rootCheckMs: 50 },
      (dir) => writeFileSync(join(dir, "a.yaml"), policy("p1", 80)),
      async ({ dir, batches, problems }) => {
        renameSync(dir, `${dir}.old`);
        await until(() => problems.some((p) => /directory is gone/.test(p.message)), "the directory missed");
        assert.equal(batches.length, 1, "nothing withdrawn while it is gone");
        mkdirSync(dir);
        writeFileSync(join(dir, "a.yaml"), policy("p1", 81));
        writeFileSync(join(dir, "b.yaml"), policy("p2", 82));
        await until(() => batches.length === 2, "the new directory read");
        assert.deepEqual(names(batches[1]).sort(), ["p1", "p2"]);
        writeFileSync(join(dir, "b.yaml"), policy("p2", 83));
        await until(() => batches.length === 3, "the new directory watched");
        rmSync(`${dir}.old`, { recursive: true, force: true });
      },
    );
  });
});
