// The graph is incremental: one pod's label change touches only the chains and
// IP sets that depend on that pod. Proven two ways: by reference (immer keeps
// the identity of every unchanged part) and by counting the work done.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { changedIpSets, ipSetOf, ipSetShard } from "../../model/ipset-shards.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { changedChains, TABLE_NAMES } from "../../model/tables.js";
import { namespace, node, pod, policy } from "./fixtures.js";

/** Names of chains / sets / endpoints whose object differs between two snapshots. */
function changed(a: DesiredState, b: DesiredState) {
  const diffKeys = (x: Readonly<Record<string, unknown>>, y: Readonly<Record<string, unknown>>) =>
    [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((k) => x[k] !== y[k]).sort();
  const chains: string[] = [];
  for (const fam of ["ipv4", "ipv6"] as const) {
    for (const t of TABLE_NAMES) {
      for (const c of changedChains(a.iptables[fam][t], b.iptables[fam][t]).sort()) chains.push(`${fam}/${t}/${c}`);
    }
  }
  return {
    chains,
    ipsets: changedIpSets(a.ipsets, b.ipsets).sort(),
    endpoints: diffKeys(a.endpoints, b.endpoints),
    routes: diffKeys(a.routes, b.routes),
  };
}

/** 3 namespaces × 40 pods, 10 of each namespace on node1; 12 policies. */
function cluster(): ResourceUpdate[] {
  const u: ResourceUpdate[] = [
    node("node1", "10.65.1.0/24", "172.18.0.1"),
    node("node2", "10.65.2.0/24", "172.18.0.2"),
  ];
  const nss = ["shop", "bank", "blog"];
  nss.forEach((ns, n) => {
    u.push(namespace(ns, { env: n === 0 ? "prod" : "dev" }));
    for (let i = 0; i < 40; i++) {
      const local = i < 10;
      const sub = local ? 1 : 2;
      u.push(
        pod(ns, `p${i}`, {
          node: local ? "node1" : "node2",
          ip: `10.65.${sub}.${n * 50 + i + 1}`,
          labels: { app: `app${i % 4}`, tier: i % 2 ? "web" : "db" },
          ports: [{ name: "http", containerPort: 8080 }],
        }),
      );
    }
    u.push(policy(ns, "default-deny", { podSelector: {}, policyTypes: ["Ingress"] }));
    for (let a = 0; a < 3; a++) {
      u.push(
        policy(ns, `allow-app${a}`, {
          podSelector: { matchLabels: { app: `app${a}` } },
          ingress: [{ from: [{ podSelector: { matchLabels: { app: `app${a + 1}` } } }], ports: [{ port: "http" }] }],
        }),
      );
    }
  });
  return u;
}

describe("incremental calc graph", () => {
  test("a local pod's label change touches only its own chains and the sets holding it", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const s1 = g.apply(cluster());
    const rendered = g.builder.stats.chainsRendered;
    const evals = g.active.labels.evaluations + g.ipsets.labels.evaluations;

    // shop/p1 moves from app1 to app3: it leaves allow-app1's selection and
    // allow-app0's peer set, and joins allow-app2's peer set.
    const s2 = g.apply([
      pod("shop", "p1", {
        node: "node1",
        ip: "10.65.1.2",
        labels: { app: "app3", tier: "web" },
        ports: [{ name: "http", containerPort: 8080 }],
      }),
    ]);
    const d = changed(s1, s2);
    const iface = s2.endpoints["shop/p1"].iface;
    assert.deepEqual(
      d.chains,
      [
        `ipv4/filter/cali-fw-${iface}`,
        `ipv4/filter/cali-tw-${iface}`,
        `ipv6/filter/cali-fw-${iface}`,
        `ipv6/filter/cali-tw-${iface}`,
      ].filter((c) => d.chains.includes(c)),
    );
    assert.ok(d.chains.includes(`ipv4/filter/cali-tw-${iface}`), "its ingress chain lost a policy");
    assert.ok(!d.chains.some((c) => c.includes("fw-") && c.startsWith("ipv4")), "egress unchanged: no egress policies");
    // Only the v4 sets that held or now hold 10.65.1.2 changed (v6 sets are empty either way).
    assert.ok(d.ipsets.length >= 2 && d.ipsets.length <= 4, `ipsets changed: ${d.ipsets}`);
    for (const name of d.ipsets) {
      const before = ipSetOf(s1.ipsets, name)?.members ?? new Set();
      const after = ipSetOf(s2.ipsets, name)?.members ?? new Set();
      assert.ok(
        [...before, ...after].some((m) => m.startsWith("10.65.1.2")),
        `${name} does not involve the pod`,
      );
    }
    assert.deepEqual(d.endpoints, ["shop/p1"]);
    assert.deepEqual(d.routes, []);
    // Work done: a handful of chain renders and selector evaluations, not the cluster.
    assert.ok(g.builder.stats.chainsRendered - rendered <= 4, `rendered ${g.builder.stats.chainsRendered - rendered}`);
    const evalsNow = g.active.labels.evaluations + g.ipsets.labels.evaluations;
    assert.ok(evalsNow - evals <= 20, `selector evaluations: ${evalsNow - evals}`);
  });

  test("a remote pod's label change touches only IP sets", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const s1 = g.apply(cluster());
    const s2 = g.apply([
      pod("bank", "p20", {
        node: "node2",
        ip: "10.65.2.71",
        labels: { app: "app2", tier: "db" },
        ports: [{ name: "http", containerPort: 8080 }],
      }),
    ]);
    const d = changed(s1, s2);
    assert.deepEqual(d.chains, []);
    assert.deepEqual(d.endpoints, []);
    assert.ok(d.ipsets.length > 0 && d.ipsets.length <= 4, `ipsets changed: ${d.ipsets}`);
    // Only the shards of the changed sets are new objects: the snapshot copies no record of every set.
    const shards = new Set(d.ipsets.map(ipSetShard));
    for (const [i, shard] of s2.ipsets.entries()) assert.equal(shard === s1.ipsets[i], !shards.has(i), `shard ${i}`);
  });

  test("a batch that changes nothing yields the very same snapshot", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const input = cluster();
    const s1 = g.apply(input);
    const s2 = g.apply(input.slice(0, 20));
    assert.equal(s2.iptables, s1.iptables);
    assert.equal(s2.ipsets, s1.ipsets);
    assert.equal(s2.routes, s1.routes);
  });

  test("a namespace label change re-evaluates only namespace selectors", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const input = cluster();
    input.push(
      policy("shop", "from-prod", {
        podSelector: { matchLabels: { app: "app0" } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: "prod" } } }] }],
      }),
    );
    const s1 = g.apply(input);
    const s2 = g.apply([namespace("bank", { env: "prod" })]);
    const d = changed(s1, s2);
    assert.deepEqual(d.chains, []);
    assert.equal(d.ipsets.filter((n) => n.startsWith("cali40")).length, 1, `${d.ipsets}`);
    const set = ipSetOf(s2.ipsets, d.ipsets.find((n) => n.startsWith("cali40"))!)!;
    assert.equal(set.members.size, 80, "shop and bank pods now match env=prod");
  });
});
