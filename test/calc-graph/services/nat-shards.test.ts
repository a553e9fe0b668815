// The services spread over nat shards in the graph (nftables rule backend,
// iptables proxy layout; the nftables proxy layout: nft-proxy.test.ts,
// test/nftables/maps.test.ts): each service's nat chains carry its shard, each
// shard has its own dispatch and node-port chains and hooks, and a change
// touches only its own shard. The iptables rule backend renders one nat
// table as before. Hostile names only ever choose one of our shards.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { IPTABLES_RULES } from "../../../iptables/rule-render.js";
import { NAT_SHARDS, natShardName, natShardOf, parseNatStage } from "../../../model/nat-shards.js";
import { chainList, chainOf } from "../../../model/tables.js";
import { NFT_RULES } from "../../../nftables/render.js";
import { deleted, node } from "../fixtures.js";
import { sliceUpdate, svcUpdate } from "./fixtures.js";

const nodes = [node("node1", "10.65.1.0/24", "172.18.0.1"), node("node2", "10.65.2.0/24", "172.18.0.2")];
const svc = (name: string, i: number, nodePort?: number) => [
  svcUpdate(name, {
    type: nodePort ? "NodePort" : "ClusterIP",
    clusterIP: `10.96.0.${i}`,
    ports: [{ name: "http", port: 80, ...(nodePort ? { nodePort } : {}) }],
  }),
  sliceUpdate(`${name}-1`, name, [{ ip: `10.65.2.${i}`, node: "node2" }]),
];
// demo/web and demo/search hash to shard 3, demo/api to 1, demo/other to 7 (FNV-1a of `namespace/name`).
const NAMES = { web: 3, search: 3, api: 1, other: 7 } as const;

const nat = (s: DesiredState) => s.iptables.ipv4.nat;
const servicesOf = (s: DesiredState, k: number) => chainOf(nat(s), natShardName("cali-SERVICES", k));

describe("nat shards in the graph (iptables proxy layout, nftables rule backend)", () => {
  test("the shard is a stable hash of namespace/name; hostile names (unicode, very long) only pick one of ours", () => {
    for (const [name, k] of Object.entries(NAMES)) assert.equal(natShardOf(`demo/${name}`), k);
    const hostile = ["ns/ünïcødé-名前", `ns/${"x".repeat(100_000)}`, "a/b; flush ruleset", "", "\u0000/\uffff"];
    for (const h of hostile) {
      const k = natShardOf(h);
      assert.ok(Number.isInteger(k) && k >= 0 && k < NAT_SHARDS, `${JSON.stringify(h.slice(0, 20))}: ${k}`);
    }
  });

  test("each service's chains carry its shard; each shard dispatches only its own, node ports in a later hook", () => {
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables", ruleRenderer: NFT_RULES });
    const s = g.apply([...nodes, ...svc("web", 10, 30010), ...svc("api", 11), ...svc("other", 12, 30012)]);
    for (const c of chainList(nat(s))) {
      const m = /^cali-(SVC|SEP|EXT)-/.test(c.name);
      if (m) assert.ok(c.natShard === 1 || c.natShard === 3 || c.natShard === 7, `${c.name}: ${c.natShard}`);
    }
    assert.equal(chainOf(nat(s), "cali-MARK-MASQ")?.natShard, "every");
    assert.deepEqual(
      [1, 3, 7].map((k) => servicesOf(s, k)?.rules.length),
      [1, 1, 1],
    );
    assert.deepEqual(servicesOf(s, 0)?.rules, [], "shard 0 has no service here; no node-port rule in it either");
    assert.ok(chainOf(nat(s), natShardName("cali-NODEPORTS", 3))?.rules[0].text.includes("dport 30010"));
    const hooks = Object.keys(nat(s).hooks).filter((h) => parseNatStage(h));
    assert.deepEqual(hooks.sort(), [
      "OUTPUT",
      "OUTPUT-1",
      "OUTPUT-3",
      "OUTPUT-7",
      "OUTPUT-NODEPORTS",
      "OUTPUT-NODEPORTS-1",
      "OUTPUT-NODEPORTS-3",
      "OUTPUT-NODEPORTS-7",
      "PREROUTING",
      "PREROUTING-1",
      "PREROUTING-3",
      "PREROUTING-7",
      "PREROUTING-NODEPORTS",
      "PREROUTING-NODEPORTS-1",
      "PREROUTING-NODEPORTS-3",
      "PREROUTING-NODEPORTS-7",
    ]);
    // The last service of a shard goes: its dispatch and hooks go too.
    const s2 = g.apply(svc("api", 11).map((u) => deleted(u)));
    assert.equal(servicesOf(s2, 1), undefined);
    assert.ok(!Object.keys(nat(s2).hooks).some((h) => parseNatStage(h)?.shard === 1));
  });

  test("O(change): an endpoint change rewrites no dispatch chain; a new frontend only its own shard's", () => {
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables", ruleRenderer: NFT_RULES });
    const s1 = g.apply([...nodes, ...svc("web", 10), ...svc("api", 11), ...svc("other", 12)]);
    const s2 = g.apply([
      sliceUpdate("web-1", "web", [
        { ip: "10.65.2.10", node: "node2" },
        { ip: "10.65.2.99", node: "node2" },
      ]),
    ]);
    for (let k = 0; k < NAT_SHARDS; k++) assert.equal(servicesOf(s2, k), servicesOf(s1, k), `shard ${k}`);
    assert.equal(nat(s2).hooks, nat(s1).hooks);
    const s3 = g.apply(svc("search", 13));
    assert.notEqual(servicesOf(s3, 3), servicesOf(s2, 3));
    assert.equal(servicesOf(s3, 3)?.rules.length, 2);
    for (const k of [0, 1, 7]) assert.equal(servicesOf(s3, k), servicesOf(s2, k), `shard ${k} untouched`);
  });

  test("the iptables rule backend renders one nat table as before: no shard tag, no shard hook, one dispatch", () => {
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables", ruleRenderer: IPTABLES_RULES });
    const s = g.apply([...nodes, ...svc("web", 10, 30010), ...svc("api", 11), ...svc("other", 12)]);
    assert.ok(chainList(nat(s)).every((c) => c.natShard === undefined));
    assert.deepEqual(Object.keys(nat(s).hooks).sort(), ["OUTPUT", "POSTROUTING", "PREROUTING"]);
    assert.equal(chainOf(nat(s), "cali-SERVICES")?.rules.length, 4, "three services and the node-port rule");
  });

  test("kube-proxy's rules carry no nft counter on the nat side (as in kube-proxy's nftables mode); the filter side keeps Felix's", () => {
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables", ruleRenderer: NFT_RULES });
    // web: endpoints, a node port; none: no endpoints (its filter rule rejects).
    const none = svcUpdate("none", { clusterIP: "10.96.0.20", ports: [{ name: "http", port: 80 }] });
    const s = g.apply([...nodes, ...svc("web", 10, 30010), none]);
    const texts = (t: "nat" | "filter", re: RegExp) =>
      chainList(s.iptables.ipv4[t])
        .filter((c) => re.test(c.name))
        .flatMap((c) => c.rules.map((r) => r.text));
    const natRules = texts("nat", /^cali-(SVC|SEP|EXT|SERVICES|NODEPORTS)/);
    assert.ok(natRules.length >= 6, natRules.join("\n"));
    for (const r of natRules) assert.doesNotMatch(r, /\bcounter\b/, r);
    const filterRules = texts("filter", /^cali-SERVICES$/);
    assert.ok(filterRules.length > 0 && filterRules.every((r) => /\bcounter reject\b/.test(r)), filterRules.join("\n"));
  });
});
