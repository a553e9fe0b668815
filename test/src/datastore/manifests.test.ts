// test-runner: machine-free: its processes are node reading manifests as nobody.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  listManifestFiles,
  type ParsedManifests,
  parseManifestText,
  readManifestDir,
} from "../../../src/datastore/manifests.js";

/**
 * readManifestDir(dir) by a user that file permissions apply to: in this
 * process, or as root (who can read any file) in a child running as nobody.
 */
async function readManifestDirUnprivileged(dir: string): Promise<ParsedManifests> {
  if (process.getuid?.() !== 0) return readManifestDir(dir);
  const mod = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), "../../../src/datastore/manifests.js")).href;
  const script =
    `const { readManifestDir } = await import(${JSON.stringify(mod)});\n` +
    "const r = await readManifestDir(process.argv[1]);\n" +
    "process.stdout.write(JSON.stringify({ uid: process.getuid(), r }));\n";
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script, dir], {
    uid: 65534,
    gid: 65534,
    cwd: dir,
    encoding: "utf8",
  });
  assert.equal(child.status, 0, child.stderr);
  const out = JSON.parse(child.stdout) as { uid: number; r: ParsedManifests };
  assert.equal(out.uid, 65534);
  return out.r;
}

/** A document's reported line: its `---` separator or its first content line. */
function assertDocLine(actual: number | undefined, separatorLine: number, what: string) {
  assert.ok(
    actual === separatorLine || actual === separatorLine + 1,
    `${what}: line ${actual}, want ${separatorLine} or ${separatorLine + 1}`,
  );
}

describe("parseManifestText", () => {
  it("reads multi-document YAML, keying namespaced objects", () => {
    const text = [
      "apiVersion: v1", // 1
      "kind: Namespace",
      "metadata:",
      "  name: prod",
      "  namespace: ignored", // 5
      "---",
      "apiVersion: v1",
      "kind: Pod",
      "metadata:",
      "  name: web", // 10
      "  namespace: prod",
      "---",
      "kind: Pod",
      "metadata:",
      "  name: nons", // 15
      "",
    ].join("\n");
    const r = parseManifestText(text, "m.yaml");
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.ignored, []);
    assert.deepEqual(
      r.updates.map((u) => [u.kind, u.namespace, u.name]),
      [
        ["Namespace", "", "prod"],
        ["Pod", "prod", "web"],
        ["Pod", "default", "nons"],
      ],
    );
    assert.deepEqual(r.updates[0].source, { file: "m.yaml", line: 1 });
    assertDocLine(r.updates[1].source?.line, 6, "second document");
    assertDocLine(r.updates[2].source?.line, 12, "third document");
    assert.equal(r.updates[1].source?.file, "m.yaml");
  });

  it("normalises the namespace into namespaced objects and leaves cluster-scoped ones alone", () => {
    const r = parseManifestText(
      "kind: Pod\nmetadata: {name: a, labels: {x: y}}\n---\nkind: Node\nmetadata: {name: n1}\n",
      "m.yaml",
    );
    assert.deepEqual(r.updates[0].value, {
      kind: "Pod",
      metadata: { name: "a", labels: { x: "y" }, namespace: "default" },
    });
    assert.deepEqual(r.updates[1].value, { kind: "Node", metadata: { name: "n1" } });
    assert.equal(r.updates[1].namespace, "");
  });

  it("skips empty and comment-only documents", () => {
    const r = parseManifestText("# just a comment\n---\n---\nkind: Pod\nmetadata: {name: a}\n---\n", "m.yaml");
    assert.deepEqual(r.problems, []);
    assert.deepEqual(
      r.updates.map((u) => u.name),
      ["a"],
    );
    assert.deepEqual(parseManifestText("", "empty.yaml"), { updates: [], problems: [], ignored: [] });
  });

  it("expands kind: List and *List kinds, ignoring unknown kinds inside", () => {
    const text = [
      "apiVersion: v1",
      "kind: List",
      "items:",
      "  - kind: Pod",
      "    metadata: {name: a, namespace: x}",
      "  - kind: ConfigMap",
      "    metadata: {name: c}",
      "  - kind: NetworkPolicy",
      "    metadata: {name: np, namespace: x}",
      "---",
      "kind: PodList",
      "items:",
      "  - kind: Pod",
      "    metadata: {name: b}",
    ].join("\n");
    const r = parseManifestText(text, "list.yaml");
    assert.deepEqual(r.problems, []);
    assert.deepEqual(
      r.updates.map((u) => `${u.kind}/${u.namespace}/${u.name}`),
      ["Pod/x/a", "NetworkPolicy/x/np", "Pod/default/b"],
    );
    assert.deepEqual(r.ignored, [{ file: "list.yaml", line: 1, kind: "ConfigMap" }]);
  });

  it("reads JSON", () => {
    const r = parseManifestText('{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j","namespace":"n"}}', "p.json");
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.updates, [
      {
        kind: "Pod",
        namespace: "n",
        name: "j",
        value: { apiVersion: "v1", kind: "Pod", metadata: { name: "j", namespace: "n" } },
        source: { file: "p.json", line: 1 },
      },
    ]);
  });

  it("reads a JSON List", () => {
    const r = parseManifestText(
      JSON.stringify(
        {
          kind: "List",
          items: [
            { kind: "Namespace", metadata: { name: "a" } },
            { kind: "Secret", metadata: { name: "s" } },
          ],
        },
        null,
        2,
      ),
      "l.json",
    );
    assert.deepEqual(
      r.updates.map((u) => u.name),
      ["a"],
    );
    assert.deepEqual(
      r.ignored.map((i) => i.kind),
      ["Secret"],
    );
  });

  it("reports unknown kinds as ignored, with their line", () => {
    const r = parseManifestText(
      "kind: Pod\nmetadata: {name: a}\n---\nkind: Deployment\nmetadata: {name: d}\n",
      "m.yaml",
    );
    assert.deepEqual(
      r.updates.map((u) => u.name),
      ["a"],
    );
    assert.equal(r.ignored.length, 1);
    assert.equal(r.ignored[0].kind, "Deployment");
    assert.equal(r.ignored[0].file, "m.yaml");
    assertDocLine(r.ignored[0].line, 3, "Deployment");
    assert.deepEqual(r.problems, []);
  });

  it("reads each NetworkPolicy by its apiVersion and never one kind as another", () => {
    const text = [
      "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: calico-np, namespace: prod}\nspec: {selector: all()}",
      "apiVersion: crd.projectcalico.org/v1\nkind: NetworkPolicy\nmetadata: {name: crd-np, namespace: prod}\nspec: {selector: all()}",
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k8s-np, namespace: prod}\nspec: {podSelector: {}}",
      "apiVersion: projectcalico.org/v2\nkind: NetworkPolicy\nmetadata: {name: old-np, namespace: prod}\nspec: {}",
      "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: gnp, namespace: ignored}\nspec: {}",
      "apiVersion: networking.k8s.io/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: wrong-group}\nspec: {}",
      "apiVersion: projectcalico.org/v3\nkind: CalicoNetworkPolicy\nmetadata: {name: internal-name}\nspec: {}",
      "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {order: 1}",
      "apiVersion: v2\nkind: Service\nmetadata: {name: s}",
      "apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16}",
      "kind: Pod\nmetadata: {name: no-api-version}",
    ].join("\n---\n");
    const r = parseManifestText(text, "calico.yaml");
    assert.deepEqual(
      r.updates.map((u) => `${u.kind}/${u.namespace}/${u.name}`),
      [
        "CalicoNetworkPolicy/prod/calico-np",
        "CalicoNetworkPolicy/prod/crd-np",
        "NetworkPolicy/prod/k8s-np",
        "GlobalNetworkPolicy//gnp",
        "Tier//t",
        "IPPool//p",
        "Pod/default/no-api-version",
      ],
    );
    assert.deepEqual(
      r.ignored.map((i) => i.kind),
      ["CalicoNetworkPolicy"],
      "our internal kind name is no manifest kind",
    );
    assert.equal(r.problems.length, 3);
    assert.equal(r.problems[0].file, "calico.yaml");
    assert.match(r.problems[0].message, /^NetworkPolicy of apiVersion "projectcalico.org\/v2" is not implemented/);
    assert.match(
      r.problems[1].message,
      /^GlobalNetworkPolicy of apiVersion "networking.k8s.io\/v1" is not implemented/,
    );
    assert.match(r.problems[2].message, /^Service of apiVersion "v2" is not implemented/);
  });

  it("reports missing kind, missing name and non-objects as problems, keeping the rest", () => {
    const text = [
      "metadata: {name: nokind}", // 1
      "---", // 2
      "kind: Pod",
      "metadata: {}",
      "---", // 5
      "kind: Namespace",
      "---", // 7
      "- a list",
      "---", // 9
      "42",
      "---", // 11
      "kind: Pod",
      "metadata: {name: good}",
      "---", // 14
      'kind: ""',
      "metadata: {name: x}",
    ].join("\n");
    const r = parseManifestText(text, "m.yaml");
    assert.deepEqual(
      r.updates.map((u) => u.name),
      ["good"],
    );
    assert.deepEqual(
      r.problems.map((p) => p.message),
      [
        "manifest has no kind",
        "Pod has no metadata.name",
        "Namespace has no metadata.name",
        "manifest is not an object",
        "manifest is not an object",
        "manifest has no kind",
      ],
    );
    assert.equal(r.problems[0].line, 1);
    const separators = [2, 5, 7, 9, 14];
    r.problems.slice(1).forEach((p, i) => {
      assert.equal(p.file, "m.yaml");
      assertDocLine(p.line, separators[i], p.message);
    });
  });

  it("invalid YAML: one problem with the error's line, and nothing from the file", () => {
    const text = [
      "kind: Namespace", // 1
      "metadata:",
      "  name: a",
      "---",
      "kind: Pod", // 5
      "metadata:",
      "  name: b",
      "  name: c", // 8: duplicate key
      "---",
      "kind: Pod", // 10
      "metadata: {name: d}",
    ].join("\n");
    const r = parseManifestText(text, "bad.yaml");
    assert.deepEqual(r.updates, []);
    assert.deepEqual(r.ignored, []);
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0].file, "bad.yaml");
    assert.equal(r.problems[0].line, 8);
    assert.match(r.problems[0].message, /^invalid YAML: /);
    assert.doesNotMatch(r.problems[0].message, /\n/);
  });

  it("invalid YAML: bad indentation and tabs", () => {
    const indent = parseManifestText("kind: Pod\nmetadata:\n  name: b\n bad: indent\n", "i.yaml");
    assert.deepEqual(indent.updates, []);
    assert.equal(indent.problems.length, 1);
    assert.equal(indent.problems[0].line, 4);

    const tabs = parseManifestText("kind: Pod\nmetadata:\n\tname: tab\n", "t.yaml");
    assert.deepEqual(tabs.updates, []);
    assert.equal(tabs.problems[0].line, 3);
  });

  it("invalid JSON: reported as JSON/YAML with its line", () => {
    const r = parseManifestText(
      '{\n  "kind": "Pod",\n  "metadata": {"name": "x"},\n  "spec": {"a": 1,, "b": 2}\n}\n',
      "x.json",
    );
    assert.deepEqual(r.updates, []);
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0].line, 4);
    assert.match(r.problems[0].message, /^invalid JSON\/YAML: /);
  });

  const BOMB = [
    "a: &a [x, x, x, x, x, x, x, x, x, x]",
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
    "kind: Pod",
    "metadata: {name: boom}",
  ].join("\n");

  it("does not expand alias bombs", () => {
    let r: ReturnType<typeof parseManifestText> | undefined;
    try {
      r = parseManifestText(BOMB, "bomb.yaml");
    } catch (e) {
      // Whatever else happens, the expansion is refused.
      assert.match((e as Error).message, /alias/i);
      return;
    }
    assert.deepEqual(r.updates, []);
  });

  it("alias errors become a problem for the file, not an exception", () => {
    for (const [text, file] of [
      [BOMB, "bomb.yaml"],
      ["kind: Pod\nmetadata: {name: *missing}\n", "alias.yaml"],
    ]) {
      const r = parseManifestText(text, file);
      assert.deepEqual(r.updates, []);
      assert.equal(r.problems.length, 1);
      assert.equal(r.problems[0].file, file);
    }
  });
});

describe("readManifestDir", () => {
  let dir: string;
  const rel = (p: string) => relative(process.cwd(), join(dir, p)) || join(dir, p);

  async function put(path: string, text: string) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "felix-manifests-"));
    await put(
      "a-namespaces.yaml",
      "kind: Namespace\nmetadata: {name: prod}\n---\nkind: Pod\nmetadata: {name: web, namespace: prod, labels: {v: '1'}}\n",
    );
    await put("b/c/deep.yml", "kind: Pod\nmetadata: {name: deep, namespace: prod}\n");
    await put("b/pods.json", JSON.stringify({ kind: "Pod", metadata: { name: "json", namespace: "prod" } }));
    await put("b/UPPER.YAML", "kind: ServiceAccount\nmetadata: {name: sa, namespace: prod}\n");
    await put("b/broken.yaml", "kind: Pod\nmetadata:\n  name: x\n  name: y\n");
    await put("c-later.yaml", "kind: Pod\nmetadata: {name: web, namespace: prod, labels: {v: '2'}}\n");
    await put("d-ignored.yaml", "kind: ConfigMap\nmetadata: {name: cm}\n");
    // Not manifests:
    await put("README.md", "kind: Pod\nmetadata: {name: readme}\n");
    await put("notes.txt", "kind: Pod\nmetadata: {name: txt}\n");
    await put("b/pod.yaml.bak", "kind: Pod\nmetadata: {name: bak}\n");
    await put(".hidden.yaml", "kind: Pod\nmetadata: {name: hidden}\n");
    await mkdir(join(dir, "dir.yaml"));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("lists manifest files recursively, sorted, skipping other and hidden files", async () => {
    const files = await listManifestFiles(dir);
    assert.deepEqual(
      files.map((f) => relative(dir, f)),
      [
        "a-namespaces.yaml",
        "b/UPPER.YAML",
        "b/broken.yaml",
        "b/c/deep.yml",
        "b/pods.json",
        "c-later.yaml",
        "d-ignored.yaml",
      ].sort(),
    );
  });

  it("reads every manifest; a later duplicate wins and is reported", async () => {
    const r = await readManifestDir(dir);
    const byKey = new Map(r.updates.map((u) => [`${u.kind}/${u.namespace}/${u.name}`, u]));
    assert.deepEqual([...byKey.keys()].sort(), [
      "Namespace//prod",
      "Pod/prod/deep",
      "Pod/prod/json",
      "Pod/prod/web",
      "ServiceAccount/prod/sa",
    ]);
    assert.equal(r.updates.length, byKey.size, "one update per object");
    const web = byKey.get("Pod/prod/web");
    assert.equal(web?.value?.metadata?.labels?.v, "2");
    assert.deepEqual(web?.source, { file: rel("c-later.yaml"), line: 1 });

    const dup = r.problems.filter((p) => /also defined/.test(p.message));
    assert.equal(dup.length, 1);
    assert.equal(dup[0].file, rel("c-later.yaml"));
    assert.equal(dup[0].line, 1);
    assert.match(dup[0].message, /Pod\/prod\/web is also defined in .*a-namespaces\.yaml:\d+; this definition wins/);
  });

  it("reports a broken file with its line and takes nothing from it", async () => {
    const r = await readManifestDir(dir);
    const broken = r.problems.filter((p) => p.file === rel("b/broken.yaml"));
    assert.equal(broken.length, 1);
    assert.equal(broken[0].line, 4);
    assert.ok(!r.updates.some((u) => u.name === "x" || u.name === "y"));
  });

  it("reports ignored kinds with their file", async () => {
    const r = await readManifestDir(dir);
    assert.deepEqual(r.ignored, [{ file: rel("d-ignored.yaml"), line: 1, kind: "ConfigMap" }]);
  });

  it("takes nothing from non-manifest files", async () => {
    const r = await readManifestDir(dir);
    for (const name of ["readme", "txt", "bak", "hidden"]) {
      assert.ok(!r.updates.some((u) => u.name === name), name);
    }
  });

  it("reports duplicates within one file", async () => {
    const d = await mkdtemp(join(tmpdir(), "felix-manifests-dup-"));
    try {
      await writeFile(
        join(d, "x.yaml"),
        "kind: Pod\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: {name: a, labels: {second: 'yes'}}\n",
      );
      const r = await readManifestDir(d);
      assert.equal(r.updates.length, 1);
      assert.equal(r.updates[0].value?.metadata?.labels?.second, "yes");
      assert.equal(r.problems.length, 1);
      assert.match(r.problems[0].message, /Pod\/default\/a is also defined in .*x\.yaml:1; this definition wins/);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it("an empty directory gives nothing", async () => {
    const d = await mkdtemp(join(tmpdir(), "felix-manifests-empty-"));
    try {
      assert.deepEqual(await readManifestDir(d), { updates: [], problems: [], ignored: [] });
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it("a file with an alias error does not make the whole directory fail", async () => {
    const d = await mkdtemp(join(tmpdir(), "felix-manifests-alias-"));
    try {
      await writeFile(join(d, "a.yaml"), "kind: Pod\nmetadata: {name: a}\n");
      await writeFile(join(d, "b.yaml"), "kind: Pod\nmetadata: {name: *missing}\n");
      const r = await readManifestDir(d);
      assert.deepEqual(
        r.updates.map((u) => u.name),
        ["a"],
      );
      assert.equal(r.problems.length, 1);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it("throws when the directory cannot be read", async () => {
    await assert.rejects(readManifestDir(join(dir, "does-not-exist")), /ENOENT/);
    await assert.rejects(readManifestDir(join(dir, "a-namespaces.yaml")), /ENOTDIR/);
  });

  it("reports an unreadable file and keeps the others (as root: read by an unprivileged user)", async () => {
    const d = await mkdtemp(join(tmpdir(), "felix-manifests-perm-"));
    try {
      await chmod(d, 0o755);
      await writeFile(join(d, "a.yaml"), "kind: Pod\nmetadata: {name: a}\n");
      await writeFile(join(d, "b.yaml"), "kind: Pod\nmetadata: {name: b}\n", { mode: 0o644 });
      await chmod(join(d, "a.yaml"), 0o000);
      const r = await readManifestDirUnprivileged(d);
      assert.deepEqual(
        r.updates.map((u) => u.name),
        ["b"],
      );
      assert.equal(r.problems.length, 1);
      assert.match(r.problems[0].message, /^cannot read: /);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
