// No leaks by construction: after thousands of random changes (the bench's
// random walk over a small synthetic cluster), every index in the graph holds
// exactly what a fresh graph built from the final state holds — the same keys
// and the same values, not only as many — and both give the same snapshot.
// Contents, not timings or heap figures.

import assert from "node:assert/strict";
import { test } from "node:test";
import { generateCluster } from "../../bench/scale.js";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { LabelFile } from "../../calc-graph/label-file.js";
import { renderTables } from "../../iptables/render.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { namespace, node, pod, update } from "./fixtures.js";
import { finalObjects } from "./history.js";

/**
 * Where a graph's history may legitimately show: a selector is filed under the
 * label fewest items carried when it was added, so which anchor it has (and
 * which anchors exist) depends on history; the set of selectors filed does not.
 */
const ANCHOR_FIELDS = new Set(["anchor", "anchorLabel"]);
const BY_ANCHOR = ".selectorsByAnchor";

/**
 * Canonical text of a value: maps and sets sorted, objects by sorted keys (a
 * class instance with its name), functions and rxjs subjects left out,
 * cycles cut. Two graphs holding the same contents give the same text.
 */
function canon(v: unknown, stack: unknown[] = []): string {
  if (v === null || typeof v !== "object") return typeof v === "function" ? "ƒ" : (JSON.stringify(v) ?? String(v));
  if (stack.includes(v)) return "<cycle>";
  const inner = (x: unknown) => canon(x, [...stack, v]);
  if (v instanceof Map)
    return `Map{${[...v]
      .map(([k, x]) => `${inner(k)}=>${inner(x)}`)
      .sort()
      .join(",")}}`;
  if (v instanceof Set) return `Set{${[...v].map(inner).sort().join(",")}}`;
  if (Array.isArray(v)) return `[${v.map(inner).join(",")}]`;
  const name = v.constructor && v.constructor !== Object ? v.constructor.name : "";
  const fields = Object.entries(v)
    .filter(([k, x]) => !ANCHOR_FIELDS.has(k) && !k.endsWith("$") && typeof x !== "function")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, x]) => `${k}:${inner(x)}`);
  return `${name}{${fields.join(",")}}`;
}

/**
 * The contents of every Map/Set in the graph's indexes, by field path (four
 * levels deep); with `sizesOnly`, what the test compared before: their sizes.
 */
function contents(root: object, sizesOnly = false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (o: unknown, path: string, depth: number) => {
    if (o === null || typeof o !== "object" || Array.isArray(o) || depth > 4) return;
    if (path.endsWith(BY_ANCHOR) && o instanceof LabelFile) {
      const filed = [...o.members()];
      out.set(path, sizesOnly ? String(filed.length) : canon(new Set(filed)));
      return;
    }
    if (o instanceof Map || o instanceof Set) {
      if (sizesOnly) out.set(path, String(o.size));
      else out.set(path, canon(o));
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

test("the comparison sees contents: two graphs one label value apart differ, though every index is as large", () => {
  const graph = (v: string) => {
    const g = new CalcGraph({ nodeName: "node1" });
    g.apply([namespace("a"), pod("a", "p", { ip: "10.65.0.2", labels: { app: v } })]);
    return g;
  };
  const [one, two] = [graph("one"), graph("two")];
  assert.deepEqual(contents(one, true), contents(two, true));
  const [a, b] = [contents(one), contents(two)];
  const differ = [...a.keys()].filter((path) => a.get(path) !== b.get(path));
  assert.ok(differ.length > 0, "contents() saw no difference");
});

for (const proxyMode of ["off", "iptables", "ipvs"] as const) {
  test(`indexes hold exactly what a fresh graph holds after 3,000 random changes (proxy mode ${proxyMode})`, () => {
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

    const a = contents(graph);
    const b = contents(fresh);
    assert.ok(a.size > 10, `found only ${a.size} collections`);
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [path, text] of a) assert.equal(text, b.get(path), `${path} holds other contents than a fresh graph's`);
    for (const fam of ["ipv4", "ipv6"] as const) {
      assert.equal(renderTables(graph.current.iptables[fam]), renderTables(fresh.current.iptables[fam]));
    }
    // The whole snapshot: IP set members, endpoints, routes, services, IPVS, problems, network.
    for (const k of Object.keys(fresh.current) as (keyof typeof fresh.current)[]) {
      assert.deepStrictEqual(graph.current[k], fresh.current[k], `the snapshot's ${k} differs from a fresh graph's`);
    }
    assert.deepStrictEqual(graph.current, fresh.current);
  });
}

test("Calico tiers and policies: indexes hold exactly what a fresh graph holds after 2,000 random changes", () => {
  // A deterministic walk (an LCG) over a small pool of tiers, policies and pods.
  let seed = 12345;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pick = <T>(xs: readonly T[]) => xs[next(xs.length)];
  const change = (): ResourceUpdate => {
    const gone = next(4) === 0;
    switch (next(3)) {
      case 0: {
        const name = pick(["t1", "t2", "t3"]);
        const spec = { order: pick([1, 2, 3]), defaultAction: pick(["Deny", "Pass"]) };
        return update("Tier", "", name, gone ? null : { metadata: { name }, spec });
      }
      case 1: {
        const kind = pick(["CalicoNetworkPolicy", "GlobalNetworkPolicy", "StagedGlobalNetworkPolicy"] as const);
        const name = pick(["p1", "p2", "p3", "p4"]);
        const ns = kind === "CalicoNetworkPolicy" ? "prod" : "";
        const spec = {
          tier: pick(["t1", "t2", "default", "gone"]),
          selector: pick(["all()", "app == 'web'", "app starts with 'd'"]),
          ingress: [
            pick([{ action: "Allow", source: { selector: "app == 'db'" } }, { action: "Pass" }, { action: "Deny" }]),
          ],
          egress: [{ action: "Allow", destination: { selector: pick(["app == 'db'", "has(app)"]) } }],
        };
        const metadata = ns ? { name, namespace: ns } : { name };
        return update(kind, ns, name, gone ? null : { metadata, spec });
      }
      default: {
        const name = pick(["a", "b", "c", "d"]);
        const u = pod("prod", name, {
          ip: `10.65.1.${10 + name.charCodeAt(0)}`,
          labels: { app: pick(["web", "db", "dns"]) },
        });
        return gone ? { ...u, value: null } : u;
      }
    }
  };
  const base = [node("node1", "10.65.1.0/24", "192.168.0.1"), namespace("prod")];
  const graph = new CalcGraph({ nodeName: "node1" });
  graph.apply(base);
  const history: ResourceUpdate[] = [];
  for (let i = 0; i < 100; i++) {
    const batch = Array.from({ length: 20 }, change);
    history.push(...batch);
    graph.apply(batch);
  }
  const fresh = new CalcGraph({ nodeName: "node1" });
  fresh.apply([...base, ...finalObjects(history)]);
  const a = contents(graph);
  const b = contents(fresh);
  for (const [path, text] of a) assert.equal(text, b.get(path), `${path} holds other contents than a fresh graph's`);
  assert.deepStrictEqual(graph.current, fresh.current);
});
