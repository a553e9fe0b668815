import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ResourceUpdate } from "../../../model/resource.js";
import { holdObject, ManifestState } from "../../../src/datastore/manifest-state.js";
import { liveHeap } from "../../helpers/live-heap.js";

const pod = (ns: string, name: string, file: string, line: number, app = "web"): ResourceUpdate => ({
  kind: "Pod",
  namespace: ns,
  name,
  value: { apiVersion: "v1", kind: "Pod", metadata: { namespace: ns, name, labels: { app } } },
  source: { file, line },
});

describe("ManifestState", () => {
  it("sends each object with its source, a deletion too, and the last file's definition of a duplicate", () => {
    const problems: string[] = [];
    const s = new ManifestState((p) => problems.push(`${p.file}:${p.line} ${p.message}`));
    s.setFile("/m/a.yaml", [holdObject(pod("ns", "p", "/m/a.yaml", 3))], undefined);
    s.setFile("/m/b.yaml", [holdObject(pod("ns", "p", "/m/b.yaml", 7, "db"))], undefined);
    const [sent] = s.takeBatch();
    assert.deepEqual(
      { ...sent, value: null },
      {
        kind: "Pod",
        namespace: "ns",
        name: "p",
        value: null,
        source: { file: "/m/b.yaml", line: 7 },
      },
    );
    assert.deepEqual(problems, ["/m/b.yaml:7 Pod/ns/p is also defined in /m/a.yaml:3; this definition wins"]);
    s.removeFile("/m/b.yaml");
    assert.deepEqual(s.takeBatch(), []);
    assert.deepEqual(s.rereads, new Set(["/m/a.yaml"])); // a.yaml's value went with the first batch
    s.setFile("/m/a.yaml", [holdObject(pod("ns", "p", "/m/a.yaml", 3))], undefined);
    s.rereads.clear();
    assert.equal(s.takeBatch()[0].source?.file, "/m/a.yaml");
    s.removeFile("/m/a.yaml");
    assert.deepEqual(s.takeBatch(), [
      { kind: "Pod", namespace: "ns", name: "p", value: null, source: { file: "/m/a.yaml", line: 3 } },
    ]);
  });

  it("holds an object sent in under 440 bytes", () => {
    // 20,000 pods in 800 files, as the large preset's namespaces hold them: 366 bytes each; with the
    // update and its source as objects of their own, an owner list each and the keys as ropes, 510.
    const before = liveHeap();
    const s = new ManifestState(() => {});
    for (let f = 0; f < 800; f++) {
      const file = `/manifests/ns-${f % 100}/pods-${Math.floor(f / 100)}.yaml`;
      const held = Array.from({ length: 25 }, (_, i) =>
        holdObject(pod(`ns-${f % 100}`, `app-${f}-${i}`, file, i * 30)),
      );
      s.setFile(file, held, undefined);
      s.takeBatch();
    }
    const perObject = (liveHeap() - before) / 20_000;
    assert.ok(perObject < 440, `${perObject.toFixed(0)} bytes per held object`);
    assert.equal([...s.knownFiles()].length, 800);
  });
});
