// FELIX_PROXYMODE=nftables in the graph: kube-proxy's nftables layout from
// the same service model as the iptables proxy mode. What changes with an
// endpoint is a few map elements and that service's own chains; the fixed
// dispatch chains and other services' objects keep their identity. Names
// that are not DNS labels never reach a chain name, and a tenant's external
// IP never captures another Service's cluster IP in this mode either.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { checkServicePortNames, nftEndpointNames } from "../../../calc-graph/services/nft-names.js";
import { IPTABLES_RULES } from "../../../iptables/rule-render.js";
import { NAT_SHARDS, natShardName } from "../../../model/nat-shards.js";
import type { VerdictMapState } from "../../../model/nft-objects.js";
import { chainNames, chainOf } from "../../../model/tables.js";
import { NFT_RULES } from "../../../nftables/render.js";
import { deleted, node } from "../fixtures.js";
import { sliceUpdate, svcUpdate } from "./fixtures.js";

const graph = () => new CalcGraph({ nodeName: "node1", proxyMode: "nftables", ruleRenderer: NFT_RULES });
const nodes = [node("node1", "10.65.1.0/24", "172.18.0.1"), node("node2", "10.65.2.0/24", "172.18.0.2")];

/** The nat maps are per nat shard (model/nat-shards.ts): `service-ips`, `service-ips-1`, …; undefined where a shard has none. */
const shardMaps = (s: DesiredState, name: string) =>
  Array.from(
    { length: NAT_SHARDS },
    (_, k) => s.nftObjects?.[`4/${natShardName(name, k)}`] as VerdictMapState | undefined,
  );
/** A map by name; a nat map's elements over every shard. */
const map = (s: DesiredState, name: string): VerdictMapState => {
  const maps = shardMaps(s, name);
  if (!NAT_MAPS.includes(name)) return maps[0] as VerdictMapState;
  const elements = new Map(maps.flatMap((m) => [...(m?.elements ?? [])]));
  return { ...(maps[0] as VerdictMapState), elements };
};
const NAT_MAPS = ["service-ips", "service-nodeports"];
/** A map's keys over every shard, not deduplicated: a key in two shards' maps would show twice. */
const keys = (s: DesiredState, name: string) =>
  shardMaps(s, name)
    .flatMap((m) => [...(m?.elements.keys() ?? [])])
    .sort();
const natChains = (s: DesiredState) => chainNames(s.iptables.ipv4.nat).sort();

const web = svcUpdate("web", {
  type: "NodePort",
  clusterIP: "10.96.0.10",
  sessionAffinity: "ClientIP",
  ports: [{ name: "http", port: 80, targetPort: 8080, nodePort: 30080 }],
});

describe("nftables proxy mode in the graph", () => {
  test("cluster IP and node port in the maps, endpoints behind numgen vmap, affinity sets per endpoint", () => {
    const s = graph().apply([
      ...nodes,
      web,
      sliceUpdate("web-1", "web", [
        { ip: "10.65.1.5", node: "node1" },
        { ip: "10.65.2.5", node: "node2" },
      ]),
    ]);
    assert.deepEqual(keys(s, "service-ips"), ["10.96.0.10,tcp:80"]);
    assert.deepEqual(keys(s, "service-nodeports"), ["tcp:30080"]);
    assert.deepEqual(keys(s, "no-endpoint-services"), []);
    const svc = natChains(s).find((c) => c.startsWith("service-"))!;
    assert.match(svc, /^service-[A-Z2-7]{8}-demo\/web\/tcp\/http$/);
    const rules = chainOf(s.iptables.ipv4.nat, svc)!.rules.map((r) => r.text);
    assert.match(rules.at(-1)!, /^numgen random mod 2 vmap \{ 0 : goto nat-endpoint-.*, 1 : goto nat-endpoint-.* \}/);
    const affinity = Object.values(s.nftObjects!).filter((o) => o.kind === "affinitySet");
    assert.equal(affinity.length, 2);
    for (const a of affinity) assert.equal(a.kind === "affinitySet" && a.timeoutSeconds, 10800);
    // No iptables-layout chain in this mode.
    assert.deepEqual(
      natChains(s).filter((c) => c.startsWith("cali-SVC") || c.startsWith("cali-SEP")),
      [],
    );
  });

  test("an endpoint change: that service's chains and map elements change, nothing else", () => {
    const g = graph();
    const other = svcUpdate("other", { clusterIP: "10.96.0.20", ports: [{ name: "http", port: 80 }] });
    const s1 = g.apply([
      ...nodes,
      web,
      other,
      sliceUpdate("web-1", "web", [{ ip: "10.65.1.5", node: "node1" }]),
      sliceUpdate("other-1", "other", [{ ip: "10.65.2.9", node: "node2" }]),
    ]);
    const s2 = g.apply([
      sliceUpdate("web-1", "web", [
        { ip: "10.65.1.5", node: "node1" },
        { ip: "10.65.2.5", node: "node2" },
      ]),
    ]);
    // The fixed chains keep their objects; the other service's too.
    for (const c of ["services", "mark-for-masquerade", "masquerading"]) {
      assert.equal(chainOf(s2.iptables.ipv4.nat, c), chainOf(s1.iptables.ipv4.nat, c), c);
    }
    assert.equal(
      chainOf(s2.iptables.ipv4.filter, "service-endpoints-check"),
      chainOf(s1.iptables.ipv4.filter, "service-endpoints-check"),
    );
    const otherSvc = natChains(s1).find((c) => c.includes("demo/other/"))!;
    assert.equal(chainOf(s2.iptables.ipv4.nat, otherSvc), chainOf(s1.iptables.ipv4.nat, otherSvc));
    // The maps' elements did not change (same frontends): same objects.
    assert.ok(shardMaps(s2, "service-ips").every((m, k) => m === shardMaps(s1, "service-ips")[k]));
    // One endpoint chain and one affinity set more.
    assert.equal(natChains(s2).filter((c) => c.startsWith("endpoint-")).length, 3);
    // Endpoints gone: reject (no-endpoint-services), the chains and sets go.
    const s3 = g.apply([sliceUpdate("web-1", "web", null)]);
    assert.deepEqual(keys(s3, "service-ips"), ["10.96.0.20,tcp:80"]);
    assert.deepEqual(keys(s3, "no-endpoint-services"), ["10.96.0.10,tcp:80"]);
    assert.deepEqual(map(s3, "no-endpoint-services").elements.get("10.96.0.10,tcp:80"), {
      kind: "goto",
      chain: "reject-chain",
    });
    assert.deepEqual(keys(s3, "no-endpoint-nodeports"), ["tcp:30080"]);
    assert.equal(natChains(s3).filter((c) => c.includes("demo/web/")).length, 0);
    assert.equal(Object.values(s3.nftObjects!).filter((o) => o.kind === "affinitySet").length, 0);
    // The service goes: no element of it remains.
    const s4 = g.apply([deleted(web)]);
    assert.deepEqual(keys(s4, "no-endpoint-services"), []);
    assert.deepEqual(keys(s4, "no-endpoint-nodeports"), []);
  });

  test("eTP Local without a local endpoint: node port dropped, cluster IP still served", () => {
    const s = graph().apply([
      ...nodes,
      svcUpdate("lb", {
        type: "NodePort",
        clusterIP: "10.96.0.30",
        externalTrafficPolicy: "Local",
        ports: [{ name: "http", port: 80, nodePort: 30090 }],
      }),
      sliceUpdate("lb-1", "lb", [{ ip: "10.65.2.5", node: "node2" }]),
    ]);
    assert.deepEqual(map(s, "no-endpoint-nodeports").elements.get("tcp:30090"), { kind: "drop" });
    assert.deepEqual(keys(s, "service-ips"), ["10.96.0.30,tcp:80"]);
  });

  test("terminating endpoints: used only while no endpoint is ready, as in the iptables mode", () => {
    const g = graph();
    const s1 = g.apply([
      ...nodes,
      web,
      sliceUpdate("web-1", "web", [
        { ip: "10.65.1.5", node: "node1", ready: false, serving: true, terminating: true },
        { ip: "10.65.2.5", node: "node2", ready: false, serving: false, terminating: true },
      ]),
    ]);
    assert.deepEqual(keys(s1, "service-ips"), ["10.96.0.10,tcp:80"]);
    const eps = (s: DesiredState) => natChains(s).filter((c) => c.startsWith("endpoint-"));
    assert.deepEqual(
      eps(s1).map((c) => c.split("__")[1]),
      ["10.65.1.5/8080"],
    );
    const s2 = g.apply([
      sliceUpdate("web-1", "web", [
        { ip: "10.65.1.5", node: "node1", ready: false, serving: true, terminating: true },
        { ip: "10.65.2.6", node: "node2" },
      ]),
    ]);
    assert.deepEqual(
      eps(s2).map((c) => c.split("__")[1]),
      ["10.65.2.6/8080"],
    );
  });

  test("two Services claiming one node port: one map element, the first's by name; when it goes, the other's", () => {
    const g = graph();
    const twin = svcUpdate("twin", {
      type: "NodePort",
      clusterIP: "10.96.0.11",
      ports: [{ name: "http", port: 80, nodePort: 30080 }],
    });
    const s1 = g.apply([
      ...nodes,
      web,
      twin,
      sliceUpdate("web-1", "web", [{ ip: "10.65.1.5", node: "node1" }]),
      sliceUpdate("twin-1", "twin", [{ ip: "10.65.2.5", node: "node2" }]),
    ]);
    const owner = map(s1, "service-nodeports").elements.get("tcp:30080");
    assert.ok(owner?.kind === "goto" && owner.chain.includes("demo/twin/"), JSON.stringify(owner));
    const s2 = g.apply([deleted(web)]);
    assert.deepEqual(map(s2, "service-nodeports").elements.get("tcp:30080"), owner);
    const s3 = g.apply([web, deleted(twin)]);
    const next = map(s3, "service-nodeports").elements.get("tcp:30080");
    assert.ok(next?.kind === "goto" && next.chain.includes("demo/web/"), JSON.stringify(next));
  });

  test("attack: names that are not DNS labels never become chain names; the port is left out and reported", () => {
    const bad = { ...svcUpdate("web", { clusterIP: "10.96.0.10", ports: [{ name: "Http;flush", port: 80 }] }) };
    const s = graph().apply([
      ...nodes,
      bad,
      sliceUpdate("web-1", "web", [{ ip: "10.65.1.5" }], [{ name: "Http;flush", port: 8080 }]),
    ]);
    assert.deepEqual(keys(s, "service-ips"), []);
    // Conversion refuses it first; nft-names.ts would refuse it again before any chain name.
    assert.match(s.problems["Service/demo/web"]?.message ?? "", /is not a DNS-1123 label/);
    assert.deepEqual(
      natChains(s).filter((c) => c.includes("web")),
      [],
    );
  });

  test("attack: nft-names.ts refuses whatever is not a DNS label, and hashes as kube-proxy does", () => {
    for (const bad of ["Web", "a;b", "a b", "a\nb", "-a", "a/b", "a}", ""]) {
      assert.throws(() => checkServicePortNames({ namespace: "demo", service: bad, portName: "" }), /DNS label/, bad);
      assert.throws(() => checkServicePortNames({ namespace: bad, service: "web", portName: "" }), /DNS label/, bad);
    }
    assert.throws(() => checkServicePortNames({ namespace: "demo", service: "web", portName: "A" }), /DNS label/);
    checkServicePortNames({ namespace: "demo", service: "web", portName: "" });
    const sp = { namespace: "ns1", service: "svc1", protocol: "tcp", portName: "p80" } as Parameters<
      typeof nftEndpointNames
    >[0];
    // kube-proxy's own example name (pkg/proxy/nftables: "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80").
    const n = nftEndpointNames(sp, {
      ip: "10.180.0.1",
      port: 80,
      local: false,
      ready: true,
      serving: true,
      terminating: false,
    });
    assert.equal(n.chain, "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80");
    assert.throws(() =>
      nftEndpointNames(sp, {
        ip: "10.0.0.1 }",
        port: 80,
        local: false,
        ready: true,
        serving: true,
        terminating: false,
      }),
    );
  });

  test("attack: an external IP equal to another Service's cluster IP never captures it in this mode", () => {
    const api = svcUpdate("kubernetes", { clusterIP: "10.96.0.1", ports: [{ name: "https", port: 443 }] });
    const evil = svcUpdate("aaa", {
      clusterIP: "10.96.0.66",
      externalIPs: ["10.96.0.1"],
      ports: [{ name: "https", port: 443 }],
    });
    for (const order of [
      [api, evil],
      [evil, api],
    ]) {
      const s = graph().apply([
        ...nodes,
        ...order,
        sliceUpdate("kubernetes-1", "kubernetes", [{ ip: "172.18.0.1" }], [{ name: "https", port: 6443 }]),
        sliceUpdate("aaa-1", "aaa", [{ ip: "10.65.2.66" }], [{ name: "https", port: 443 }]),
      ]);
      const v = map(s, "service-ips").elements.get("10.96.0.1,tcp:443");
      assert.ok(
        v?.kind === "goto" && v.chain.includes("default/kubernetes") === false && v.chain.includes("demo/kubernetes"),
      );
      assert.equal([...map(s, "service-ips").elements.keys()].filter((k) => k.startsWith("10.96.0.1,")).length, 1);
    }
  });

  test("the iptables renderer refuses the nft-only actions (a mixed configuration fails, never half renders)", () => {
    assert.throws(
      () => new CalcGraph({ nodeName: "node1", proxyMode: "nftables", ruleRenderer: IPTABLES_RULES }).apply(nodes),
      /has no iptables rendering/,
    );
  });
});
