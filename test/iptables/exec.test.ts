// iptables/exec.ts: stdin given as parts is streamed in chunks and arrives
// whole; a program that exits without reading it never hangs the caller; held
// parts wait for their promises while the program already runs; the offending
// line of a parted input is found across part boundaries; lazy parts (a
// generator) are rendered as the program reads, and one that throws stops the
// program before it has its whole input.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { lineOfParts, run } from "../../iptables/exec.js";

/** ~6 MB in 200k parts: many chunks, far over a pipe's 64 KiB. */
function manyParts(): string[] {
  const parts: string[] = [];
  for (let i = 0; i < 100_000; i++) parts.push(`-A cali-x -m comment --comment "rule ${i}" -j ACCEPT`, "\n");
  return parts;
}

test("run: parts reach the program's stdin whole and in order", async () => {
  const parts = manyParts();
  const r = await run("cat", [], parts);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, parts.join(""));
});

test("run: lazy parts are produced as the pipe takes them, and onInputSent fires once all are in", async () => {
  const parts = manyParts();
  let produced = 0;
  let producedWhenSent = -1;
  function* lazy(): Generator<string> {
    for (const p of parts) {
      produced++;
      yield p;
    }
  }
  const r = await run("cat", [], lazy(), undefined, { onInputSent: () => (producedWhenSent = produced) });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, parts.join(""));
  assert.equal(producedWhenSent, parts.length);
});

test("run: lazy parts that throw kill the program before it sees the end of its input", async () => {
  // `cat > out; touch eof`: the second file appears only if cat saw EOF (a partial input taken as whole).
  const dir = mkdtempSync(join(tmpdir(), "felix-exec-"));
  try {
    const [out, eof] = [join(dir, "out"), join(dir, "eof")];
    let sent = false;
    function* lazy(): Generator<string> {
      yield "table ip calico {\n}\n";
      throw new Error("a rule that is not one command");
    }
    const running = run("sh", ["-c", `cat > ${out}; touch ${eof}`], lazy(), undefined, {
      onInputSent: () => (sent = true),
    });
    await assert.rejects(running, /not one command/);
    assert.equal(existsSync(eof), false, "the program never read an end of input");
    assert.equal(sent, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("run: a program that exits without reading its parted stdin does not hang the caller", async () => {
  const r = await run("sh", ["-c", "exit 3"], manyParts());
  assert.equal(r.code, 3);
  const half = await run("head", ["-c", "100000"], manyParts());
  assert.equal(half.stdout.length, 100_000);
});

test("run: a chain of holds: the program runs at once, each held part waits for its own promise", async () => {
  const dir = mkdtempSync(join(tmpdir(), "felix-exec-"));
  try {
    const started = join(dir, "started");
    let openStart!: () => void;
    let openCommit!: () => void;
    const start = new Promise<void>((r) => (openStart = r));
    const commit = new Promise<void>((r) => (openCommit = r));
    const parts = ["*filter\n", "-A x\n", "COMMIT\n"];
    const hold = { indexes: new Set([2]), until: commit, next: { indexes: new Set([0]), until: start } };
    const out = join(dir, "out");
    const running = run("sh", ["-c", `touch ${started}; cat > ${out}`], parts, hold);
    for (let i = 0; i < 500 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(existsSync(started), "the program started before any hold was released");
    openCommit(); // the later part's promise first: the first part still waits for its own
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(readFileSync(out, "utf8"), "", "nothing read while the first part is held");
    openStart();
    assert.equal((await running).code, 0);
    assert.equal(readFileSync(out, "utf8"), parts.join(""));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("run: a hold that rejects kills the program before it reads anything, and run rejects with its error", async () => {
  const dir = mkdtempSync(join(tmpdir(), "felix-exec-"));
  try {
    const out = join(dir, "out");
    const refused = Promise.reject(new Error("the IP sets could not be created"));
    const hold = { indexes: new Set([0]), until: refused };
    await assert.rejects(run("sh", ["-c", `cat > ${out}`], ["*filter\n", "COMMIT\n"], hold), /could not be created/);
    assert.equal(existsSync(out) ? readFileSync(out, "utf8") : "", "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("lineOfParts: a line split over parts, the first, the last, and past the end", () => {
  const parts = ["*filter\n:cali-a - [0:0]\n-A cali-a ", "-m comment", ' --comment "x" -j ACCEPT', "\n", "COMMIT\n"];
  assert.equal(lineOfParts(parts, 1), "*filter");
  assert.equal(lineOfParts(parts, 3), '-A cali-a -m comment --comment "x" -j ACCEPT');
  assert.equal(lineOfParts(parts, 4), "COMMIT");
  assert.equal(lineOfParts(parts, 5), undefined);
  assert.equal(lineOfParts(["a\nb"], 2), "b");
});
