// The services part of the graph: Service ⋈ EndpointSlice, the proxy modes,
// the pod-CIDR input, and incrementality (a change to one service re-renders
// that service's chains and the dispatch chains, nothing else).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { type ProxyMode, servicePortId } from "../../../calc-graph/services/model.js";
import { endpointChainName, serviceChainNames } from "../../../calc-graph/services/names.js";
import { servicePortIds, servicePortList, servicePortOf } from "../../../calc-graph/services/port-shards.js";
import { ipSetOf } from "../../../model/ipset-shards.js";
import type { KubeObject } from "../../../model/k8s.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { shardIndex } from "../../../model/sharded-record.js";
import { chainNames, chainOf, changedChains, TABLE_NAMES } from "../../../model/tables.js";
import { node } from "../fixtures.js";
import { sliceUpdate, svcUpdate } from "./fixtures.js";

const graph = (proxyMode: ProxyMode, updates: ResourceUpdate[]) => {
  const g = new CalcGraph({ nodeName: "node1", proxyMode });
  g.apply(updates);
  return g;
};

function changedChainsOf(a: DesiredState, b: DesiredState): string[] {
  const out: string[] = [];
  for (const fam of ["ipv4", "ipv6"] as const) {
    for (const t of TABLE_NAMES) {
      for (const k of changedChains(a.iptables[fam][t], b.iptables[fam][t])) out.push(`${fam}/${t}/${k}`);
    }
  }
  return out.sort();
}

const base = (): ResourceUpdate[] => [
  node("node1", "10.65.1.0/24", "172.18.0.1"),
  node("node2", "10.65.2.0/24", "172.18.0.2"),
];

describe("service ports from Services and EndpointSlices", () => {
  test("slices merge and dedupe (non-terminating preferred), named ports resolve per slice, local flag, kube-proxy's endpoint-string order", () => {
    const g = graph("iptables", [
      ...base(),
      svcUpdate("web", { clusterIP: "10.96.0.1", ports: [{ name: "http", port: 80, targetPort: "web" }] }),
      sliceUpdate("web-a", "web", [
        { ip: "10.65.2.10", node: "node2" },
        { ip: "10.65.1.9", node: "node1", ready: false, terminating: true },
      ]),
      sliceUpdate("web-b", "web", [{ ip: "10.65.1.9", node: "node1" }], [{ name: "http", port: 8080 }]),
      sliceUpdate("web-c", "web", [{ ip: "10.65.1.20", node: "node1" }], [{ name: "http", port: 9090 }]),
    ]);
    const sp = servicePortOf(g.current.services, "demo/web:http/tcp/v4")!;
    assert.deepEqual(
      sp.endpoints.map((e) => `${e.ip}:${e.port} ${e.local ? "local" : "remote"} ${e.terminating ? "term" : "ok"}`),
      // As text, as kube-proxy sorts them: "10.65.1.20:9090" < "10.65.1.9:8080".
      ["10.65.1.20:9090 local ok", "10.65.1.9:8080 local ok", "10.65.2.10:8080 remote ok"],
    );
  });

  test("a slice whose service-name label moves leaves its old service", () => {
    const g = graph("iptables", [
      ...base(),
      svcUpdate("a", { clusterIP: "10.96.0.1", ports: [{ name: "http", port: 80 }] }),
      svcUpdate("b", { clusterIP: "10.96.0.2", ports: [{ name: "http", port: 80 }] }),
      sliceUpdate("s", "a", [{ ip: "10.65.2.10" }]),
    ]);
    assert.equal(servicePortOf(g.current.services, "demo/a:http/tcp/v4")!.endpoints.length, 1);
    g.apply([sliceUpdate("s", "b", [{ ip: "10.65.2.10" }])]);
    assert.equal(servicePortOf(g.current.services, "demo/a:http/tcp/v4")!.endpoints.length, 0);
    assert.equal(servicePortOf(g.current.services, "demo/b:http/tcp/v4")!.endpoints.length, 1);
  });
});

describe("proxy modes", () => {
  const input = () => [
    ...base(),
    svcUpdate("web", { clusterIP: "10.96.0.1", ports: [{ name: "http", port: 80 }] }),
    sliceUpdate("web-1", "web", [{ ip: "10.65.2.10" }]),
  ];
  const natChains = (s: DesiredState) => chainNames(s.iptables.ipv4.nat).sort();

  test("off: no service model, no chains, no hooks", () => {
    const s = graph("off", input()).current;
    assert.deepEqual(servicePortIds(s.services), []);
    assert.deepEqual(natChains(s), ["cali-POSTROUTING", "cali-nat-outgoing"]);
    assert.deepEqual(Object.keys(s.iptables.ipv4.nat.hooks), ["POSTROUTING"]);
  });

  test("ipvs: the service model and the IPVS table, the IPVS chains but no iptables-mode service chains", () => {
    const g = graph("ipvs", input());
    const s = g.current;
    assert.deepEqual(servicePortIds(s.services), ["demo/web:http/tcp/v4"]);
    assert.deepEqual(natChains(s), [
      "cali-IPVS-MARK-MASQ",
      "cali-IPVS-POSTROUTING",
      "cali-IPVS-SERVICES",
      "cali-POSTROUTING",
      "cali-nat-outgoing",
    ]);
    const vs = Object.values(s.ipvs!.services);
    assert.deepEqual(
      vs.map((v) => [v.service.address, v.service.port, v.realServers.map((r) => r.address)]),
      [["10.96.0.1", 80, ["10.65.2.10"]]],
    );
    // An endpoint change reaches the IPVS table; an unrelated batch keeps its identity.
    g.apply([sliceUpdate("web-1", "web", [{ ip: "10.65.2.10" }, { ip: "10.65.2.11" }])]);
    const after = g.current.ipvs!;
    assert.deepEqual(
      Object.values(after.services)[0].realServers.map((r) => r.address),
      ["10.65.2.10", "10.65.2.11"],
    );
    g.apply([svcUpdate("other", { clusterIP: "None", ports: [{ name: "http", port: 80 }] })]);
    assert.equal(g.current.ipvs, after);
  });

  test("iptables: the chains and the nat hooks", () => {
    const s = graph("iptables", input()).current;
    const sp = servicePortOf(s.services, "demo/web:http/tcp/v4")!;
    const n = serviceChainNames(sp);
    assert.ok(natChains(s).includes(n.svc));
    assert.ok(natChains(s).includes(endpointChainName(sp, sp.endpoints[0])));
    assert.match(s.iptables.ipv4.nat.hooks.PREROUTING.insert[0].text, /-j cali-SERVICES$/);
  });
});

describe("cluster pod CIDRs", () => {
  test("node podCIDRs by default; IP pools override them; clearing the pools falls back", () => {
    const g = graph("iptables", [
      ...base(),
      svcUpdate("web", { clusterIP: "10.96.0.1", ports: [{ port: 80 }] }),
      sliceUpdate("web-1", "web", [{ ip: "10.65.2.10" }], [{ port: 80 }]),
    ]);
    const members = () => [...(ipSetOf(g.current.ipsets, "cali40svc-pod-cidrs")?.members ?? [])].sort();
    assert.deepEqual(members(), ["10.65.1.0/24", "10.65.2.0/24"]);
    g.services.setPoolCIDRs(["10.64.0.0/14", "fd00:64::/48"]);
    g.apply([]);
    assert.deepEqual(members(), ["10.64.0.0/14"]);
    assert.deepEqual([...ipSetOf(g.current.ipsets, "cali60svc-pod-cidrs")!.members], ["fd00:64::/48"]);
    g.services.setPoolCIDRs(undefined);
    g.apply([]);
    assert.deepEqual(members(), ["10.65.1.0/24", "10.65.2.0/24"]);
    assert.equal(ipSetOf(g.current.ipsets, "cali60svc-pod-cidrs"), undefined);
  });

  test("an IPPool manifest feeds them: its CIDR replaces the nodes' podCIDRs; a disabled pool does not count", () => {
    const pool = (name: string, cidr: string, disabled = false): ResourceUpdate => ({
      kind: "IPPool",
      namespace: "",
      name,
      value: {
        apiVersion: "projectcalico.org/v3",
        kind: "IPPool",
        metadata: { name },
        spec: { cidr, disabled },
      } as KubeObject,
    });
    const g = graph("iptables", [
      ...base(),
      svcUpdate("web", { clusterIP: "10.96.0.1", ports: [{ port: 80 }] }),
      sliceUpdate("web-1", "web", [{ ip: "10.65.2.10" }], [{ port: 80 }]),
      pool("default-ipv4-ippool", "10.244.0.0/16"),
      pool("old", "10.99.0.0/16", true),
    ]);
    assert.deepEqual([...ipSetOf(g.current.ipsets, "cali40svc-pod-cidrs")!.members], ["10.244.0.0/16"]);
    g.apply([{ ...pool("default-ipv4-ippool", "10.244.0.0/16"), value: null }]);
    assert.deepEqual([...ipSetOf(g.current.ipsets, "cali40svc-pod-cidrs")!.members].sort(), [
      "10.65.1.0/24",
      "10.65.2.0/24",
    ]);
  });

  test("without any pod CIDR the off-cluster masquerade rule is left out, and comes back with one", () => {
    const g = graph("iptables", [
      svcUpdate("web", { clusterIP: "10.96.0.1", ports: [{ port: 80 }] }),
      sliceUpdate("web-1", "web", [{ ip: "10.65.2.10" }], [{ port: 80 }]),
    ]);
    const svcChain = () => {
      const sp = servicePortOf(g.current.services, "demo/web:/tcp/v4")!;
      return chainOf(g.current.iptables.ipv4.nat, serviceChainNames(sp).svc)!
        .rules.map((r) => r.text)
        .join("\n");
    };
    assert.doesNotMatch(svcChain(), /cali-MARK-MASQ/);
    g.apply([node("node2", "10.65.2.0/24", "172.18.0.2")]);
    assert.match(svcChain(), /-m set ! --match-set cali40svc-pod-cidrs src .* -j cali-MARK-MASQ/);
  });
});

describe("incremental", () => {
  function cluster(): ResourceUpdate[] {
    const u = base();
    for (let i = 0; i < 20; i++) {
      u.push(
        svcUpdate(`s${i}`, {
          type: "NodePort",
          clusterIP: `10.96.1.${i}`,
          ports: [{ name: "http", port: 80, nodePort: 30000 + i }],
        }),
      );
      u.push(
        sliceUpdate(`s${i}-1`, `s${i}`, [
          { ip: `10.65.2.${i + 10}`, node: "node2" },
          { ip: `10.65.1.${i + 10}`, node: "node1" },
        ]),
      );
    }
    return u;
  }

  test("an EndpointSlice change re-renders only that service's chains and the dispatch chains", () => {
    const g = graph("iptables", cluster());
    const before = g.current;
    const rendered0 = g.builder.stats.chainsRendered;
    g.apply([
      sliceUpdate("s7-1", "s7", [
        { ip: "10.65.2.17", node: "node2" },
        { ip: "10.65.2.99", node: "node2" },
      ]),
    ]);
    const sp = servicePortOf(g.current.services, "demo/s7:http/tcp/v4")!;
    const old = servicePortOf(before.services, "demo/s7:http/tcp/v4")!;
    const n = serviceChainNames(sp);
    const seps = (x: typeof sp) => x.endpoints.map((e) => `ipv4/nat/${endpointChainName(x, e)}`);
    const expected = [
      `ipv4/nat/${n.svc}`,
      ...seps(sp).filter((c) => !seps(old).includes(c)),
      ...seps(old).filter((c) => !seps(sp).includes(c)),
    ].sort(); // the dispatch chains are re-rendered but keep their objects: same rules

    assert.deepEqual(changedChainsOf(before, g.current), expected);
    // Work done: this service's chains plus the six dispatch chains per family.
    assert.ok(g.builder.stats.chainsRendered - rendered0 <= 6 + 2 * 6, `${g.builder.stats.chainsRendered - rendered0}`);
    // Other services keep their ServicePort objects.
    for (const v of servicePortList(before.services))
      if (v.service !== "s7") assert.equal(servicePortOf(g.current.services, servicePortId(v)), v);
    // Only that port's shard is copied (the snapshot copied its record of every port per change), frozen.
    const shard = shardIndex("demo/s7:http/tcp/v4");
    g.current.services.forEach((x, i) => assert.equal(x === before.services[i], i !== shard, `shard ${i}`));
    assert.ok(Object.isFrozen(g.current.services) && Object.isFrozen(g.current.services[shard]));
  });

  test("a Service change (node port) touches its EXT-side dispatch only; deleting it removes its chains", () => {
    const g = graph("iptables", cluster());
    const before = g.current;
    g.apply([
      svcUpdate("s3", {
        type: "NodePort",
        clusterIP: "10.96.1.3",
        ports: [{ name: "http", port: 80, nodePort: 31999 }],
      }),
    ]);
    assert.deepEqual(changedChainsOf(before, g.current), ["ipv4/nat/cali-NODEPORTS"]);
    const sp = servicePortOf(g.current.services, "demo/s3:http/tcp/v4")!;
    const mine = chainNames(g.current.iptables.ipv4.nat).filter((c) => c.endsWith(serviceChainNames(sp).svc.slice(9)));
    assert.equal(mine.length, 2); // SVC and EXT
    g.apply([svcUpdate("s3", null)]);
    for (const c of mine) assert.equal(chainOf(g.current.iptables.ipv4.nat, c), undefined);
    assert.equal(servicePortOf(g.current.services, "demo/s3:http/tcp/v4"), undefined);
    for (const e of sp.endpoints)
      assert.equal(chainOf(g.current.iptables.ipv4.nat, endpointChainName(sp, e)), undefined);
  });

  test("the result does not depend on how the updates were batched", () => {
    const u = cluster();
    const once = graph("iptables", u).current;
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables" });
    for (const x of [...u].reverse()) g.apply([x]);
    assert.deepEqual(JSON.parse(JSON.stringify(g.current.iptables)), JSON.parse(JSON.stringify(once.iptables)));
    assert.deepEqual(g.current.services, once.services);
  });
});

describe("load balancer source ranges and this node's address", () => {
  test("a range holding the node's address admits the LB IP as a source; the node's address moving out re-renders it", () => {
    const lb = svcUpdate(
      "lb",
      {
        type: "LoadBalancer",
        clusterIP: "10.96.0.9",
        loadBalancerSourceRanges: ["172.18.0.0/24"],
        ports: [{ port: 80, nodePort: 30009 }],
      },
      { status: { loadBalancer: { ingress: [{ ip: "192.0.2.9" }] } } },
    );
    const g = graph("iptables", [...base(), lb, sliceUpdate("lb-1", "lb", [{ ip: "10.65.2.10" }], [{ port: 80 }])]);
    const fw = () => {
      const sp = servicePortOf(g.current.services, "demo/lb:/tcp/v4")!;
      return chainOf(g.current.iptables.ipv4.nat, serviceChainNames(sp).fw)!
        .rules.map((r) => r.text)
        .join("\n");
    };
    assert.match(fw(), /-s 192\.0\.2\.9\/32 .*-j cali-EXT-/);
    g.apply([node("node1", "10.65.1.0/24", "172.19.0.1")]);
    assert.doesNotMatch(fw(), /-s 192\.0\.2\.9\/32/);
    assert.match(fw(), /-s 172\.18\.0\.0\/24 /);
  });
});

describe("kube-proxy's large cluster mode", () => {
  // One service of two endpoints; a second one brings the family past 1,000 endpoints.
  const web = () => [
    ...base(),
    svcUpdate("web", { clusterIP: "10.96.0.1", ports: [{ name: "http", port: 80 }] }),
    sliceUpdate("web-1", "web", [{ ip: "10.65.2.10" }, { ip: "10.65.2.11" }]),
    svcUpdate("big", { clusterIP: "10.96.0.2", ports: [{ name: "http", port: 80 }] }),
  ];
  const bigSlice = (n: number) =>
    sliceUpdate(
      "big-1",
      "big",
      Array.from({ length: n }, (_, i) => ({ ip: `10.65.${3 + (i >> 8)}.${i & 255}` })),
    );
  const comments = (s: DesiredState) => {
    const sp = servicePortOf(s.services, "demo/web:http/tcp/v4")!;
    const nat = s.iptables.ipv4.nat;
    // kube-proxy's comment: the one that is not our rule id (cali:<hash>).
    const comment = (text: string) =>
      [...text.matchAll(/--comment ("[^"]*"|\S+)/g)]
        .map((m) => m[1].replace(/^"|"$/g, ""))
        .find((c) => !c.startsWith("cali:")) ?? "-";
    const of = (c: string) => chainOf(nat, c)!.rules.map((r) => comment(r.text));
    return {
      svc: of(serviceChainNames(sp).svc),
      sep: sp.endpoints.flatMap((e) => of(endpointChainName(sp, e))),
    };
  };

  test("past 1,000 endpoints in the family, the per-endpoint rules lose their comments; back under, they regain them", () => {
    const g = graph("iptables", [...web(), bigSlice(998)]); // 1,000: not past it
    const small = comments(g.current);
    assert.deepEqual(small.sep, Array(4).fill("demo/web:http"));
    assert.deepEqual(small.svc.slice(1), ["demo/web:http -> 10.65.2.10:8080", "demo/web:http -> 10.65.2.11:8080"]);

    g.apply([bigSlice(999)]); // 1,001: a clean service (web) is re-rendered too
    const large = comments(g.current);
    assert.deepEqual(large.sep, Array(4).fill("-"));
    assert.deepEqual(large.svc, ["demo/web:http cluster IP", "-", "-"]); // the masquerade rule keeps its comment
    // Only the comments differ: web's chains hold the same rules otherwise.
    const bare = (s: DesiredState) => {
      const sp = servicePortOf(s.services, "demo/web:http/tcp/v4")!;
      const names = [serviceChainNames(sp).svc, ...sp.endpoints.map((e) => endpointChainName(sp, e))];
      return names.map((c) =>
        chainOf(s.iptables.ipv4.nat, c)!.rules.map((r) =>
          r.text.replace(/(^| )-m comment --comment ("[^"]*"|\S+)/g, "").trim(),
        ),
      );
    };
    assert.deepEqual(bare(g.current), bare(graph("iptables", [...web(), bigSlice(998)]).current));
    // And one rule id per per-endpoint chain, on its first rule (Chain.oneId); the others have none.
    const ids = (s: DesiredState) => {
      const sp = servicePortOf(s.services, "demo/web:http/tcp/v4")!;
      const names = [serviceChainNames(sp).svc, ...sp.endpoints.map((e) => endpointChainName(sp, e))];
      return names.map((c) => chainOf(s.iptables.ipv4.nat, c)!.rules.map((r) => r.text.includes('"cali:')));
    };
    assert.deepEqual(ids(g.current), [
      [true, false, false],
      [true, false],
      [true, false],
    ]);

    g.apply([sliceUpdate("big-1", "big", null)]);
    assert.deepEqual(comments(g.current), small);
  });

  test("the mode is the same whichever order the services came in", () => {
    const u = [...web(), bigSlice(999)];
    const once = graph("iptables", u).current;
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables" });
    for (const x of [...u].reverse()) g.apply([x]);
    assert.deepEqual(comments(g.current), comments(once));
    assert.deepEqual(JSON.parse(JSON.stringify(g.current.iptables)), JSON.parse(JSON.stringify(once.iptables)));
  });
});
