// No leaks by construction: after thousands of random changes (the bench's
// random walk over a small synthetic cluster), every index in the graph holds
// exactly as many entries as a fresh graph built from the final state, and
// both render the same snapshot. Sizes, not timings or heap figures.

import assert from "node:assert/strict";
import { test } from "node:test";
import { generateCluster } from "../../bench/scale.js";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { renderTables } from "../../iptables/render.js";

/** Map/Set sizes by field path (four levels deep; nested collections summed per path). */
function census(root: object): Map<string, number> {
  const out = new Map<string, number>();
  const nested = (c: Map<unknown, unknown> | Set<unknown>): number => {
    let n = 0;
    for (const v of c.values()) if (v instanceof Map || v instanceof Set) n += v.size + nested(v);
    return n;
  };
  const walk = (o: unknown, path: string, depth: number) => {
    if (o === null || typeof o !== "object" || Array.isArray(o) || depth > 4) return;
    if (o instanceof Map || o instanceof Set) {
      // A selector is filed under the label fewest items carried when it was
      // added, so which anchors exist depends on history; their total does not.
      if (!path.endsWith(".selectorsByAnchor")) out.set(path, o.size);
      out.set(`${path}/nested`, nested(o));
      return;
    }
    for (const [k, v] of Object.entries(o)) {
      // The snapshot is compared separately; subjects hold only subscribers.
      if (k === "state" || k.endsWith("$")) continue;
      walk(v, `${path}.${k}`, depth + 1);
    }
  };
  walk(root, "graph", 0);
  return out;
}

for (const proxyMode of ["off", "iptables", "ipvs"] as const) {
  test(`indexes hold no more than a fresh graph after 3,000 random changes (proxy mode ${proxyMode})`, () => {
    const cluster = generateCluster("small", 3);
    const graph = new CalcGraph({ nodeName: "node-0", proxyMode });
    graph.apply(cluster.updates);
    for (let i = 0; i < 60; i++) {
      const batch = [];
      for (let j = 0; j < 50; j++) batch.push(...cluster.randomChange());
      graph.apply(batch);
    }
    const fresh = new CalcGraph({ nodeName: "node-0", proxyMode });
    fresh.apply(cluster.currentUpdates());

    const a = census(graph);
    const b = census(fresh);
    assert.ok(a.size > 10, `census found only ${a.size} collections`);
    assert.deepEqual(Object.fromEntries(a), Object.fromEntries(b));
    for (const fam of ["ipv4", "ipv6"] as const) {
      assert.equal(renderTables(graph.current.iptables[fam]), renderTables(fresh.current.iptables[fam]));
    }
    assert.deepEqual(Object.keys(graph.current.ipsets).sort(), Object.keys(fresh.current.ipsets).sort());
    assert.deepEqual(graph.current.services, fresh.current.services);
    assert.deepEqual(graph.current.ipvs, fresh.current.ipvs);
  });
}
