import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { produce } from "immer";
import { MARK_ALL } from "../../../calc-graph/rules/marks.js";
import { IpvsStateBuilder } from "../../../calc-graph/services/ipvs-builder.js";
import { ipvsIpSets, ipvsTableRules, MARK_IPVS_MASQ } from "../../../calc-graph/services/ipvs-rules.js";
import { emptyState, StateBuilder } from "../../../calc-graph/state-builder.js";
import { renderChain, renderTables } from "../../../iptables/render.js";
import { ipSetNames, ipSetOf } from "../../../model/ipset-shards.js";
import { ep, sp } from "./service-fixtures.js";

const SERVICES = [
  sp({
    nodePort: 30080,
    externalIPs: ["203.0.113.7"],
    loadBalancerIPs: ["198.51.100.20"],
    loadBalancerSourceRanges: ["203.0.113.0/25", "192.0.2.1/32"],
    endpoints: [ep("10.244.1.5"), ep("10.244.2.5", { port: 9090 })],
  }),
  sp({
    service: "local",
    clusterIP: "10.96.0.11",
    nodePort: 30081,
    externalPolicyLocal: true,
    endpoints: [ep("10.244.1.5", { local: true })],
  }),
  sp({
    service: "dns",
    family: 6,
    protocol: "udp",
    clusterIP: "fd00::a",
    port: 53,
    endpoints: [ep("fd10::5", { port: 53 })],
  }),
];

function members(sets: ReturnType<typeof ipvsIpSets>): Record<string, string[]> {
  return Object.fromEntries(
    sets.filter((s) => s.members.size > 0).map((s) => [`${s.name} ${s.type}`, [...s.members].sort()]),
  );
}

describe("IPVS IP sets and rules", () => {
  test("sets name every frontend by kind; Local-policy frontends are in no masquerade set", () => {
    const sets = ipvsIpSets(SERVICES, ["192.168.1.10", "fd01::10"], { podCidrs: ["10.244.0.0/16", "fd10::/64"] });
    assert.equal(sets.length, 18, "all nine sets in both families, empty ones too");
    assert.deepEqual(members(sets), {
      "cali40ipvs-cluster-ip hash:ip,port": ["10.96.0.10,tcp:80", "10.96.0.11,tcp:80"],
      "cali40ipvs-external hash:ip,port": ["198.51.100.20,tcp:80", "203.0.113.7,tcp:80"],
      "cali40ipvs-node-port hash:ip,port": ["192.168.1.10,tcp:30080"],
      "cali40ipvs-lb-fw hash:ip,port": ["198.51.100.20,tcp:80"],
      "cali40ipvs-lb-src hash:ip,port,net": ["198.51.100.20,tcp:80,192.0.2.1", "198.51.100.20,tcp:80,203.0.113.0/25"],
      "cali40ipvs-loop-back hash:ip,port,ip": ["10.244.1.5,tcp:8080,10.244.1.5", "10.244.2.5,tcp:9090,10.244.2.5"],
      "cali40ipvs-pod-cidr hash:net": ["10.244.0.0/16"],
      "cali60ipvs-cluster-ip hash:ip,port": ["fd00::a,udp:53"],
      "cali60ipvs-loop-back hash:ip,port,ip": ["fd10::5,udp:53,fd10::5"],
      "cali60ipvs-pod-cidr hash:net": ["fd10::/64"],
    });
  });

  test("kube-proxy's IPVS filter sets: Local-policy frontends, the bound addresses, the node's own LB source", () => {
    const lb = sp({
      service: "lb",
      clusterIP: "10.96.0.12",
      loadBalancerIPs: ["198.51.100.30"],
      loadBalancerSourceRanges: ["192.168.0.0/16"],
      externalPolicyLocal: true,
      endpoints: [ep("10.244.1.6", { local: true })],
    });
    const sets = members(
      ipvsIpSets([lb], ["192.168.1.10", "10.0.0.1"], {
        podCidrs: [],
        boundAddresses: ["10.96.0.12", "198.51.100.30", "fd00::a"],
        nodeIPs: ["192.168.1.10"],
      }),
    );
    assert.deepEqual(sets["cali40ipvs-external-local hash:ip,port"], ["198.51.100.30,tcp:80"]);
    assert.equal(sets["cali40ipvs-external hash:ip,port"], undefined, "Local policy: no masquerade set");
    assert.deepEqual(sets["cali40ipvs-ips hash:net"], ["10.96.0.12", "198.51.100.30"]);
    assert.deepEqual(sets["cali60ipvs-ips hash:net"], ["fd00::a"]);
    // The range holds the node's own IP: the node may reach the bound LB IP from it.
    assert.deepEqual(sets["cali40ipvs-lb-src hash:ip,port,net"], [
      "198.51.100.30,tcp:80,192.168.0.0/16",
      "198.51.100.30,tcp:80,198.51.100.30",
    ]);
    const outside = members(ipvsIpSets([lb], [], { podCidrs: [], nodeIPs: ["172.16.0.1"] }));
    assert.deepEqual(outside["cali40ipvs-lb-src hash:ip,port,net"], ["198.51.100.30,tcp:80,192.168.0.0/16"]);
  });

  test("health check node ports stay open on the bound addresses", () => {
    const filter = ipvsTableRules(4, { podCidrs: [], healthCheckNodePorts: [32000, 31000, 32000] }).filter.chains.find(
      (c) => c.name === "cali-IPVS-FILTER",
    )!;
    assert.ok(
      renderChain(filter).rules.some(
        (r) => r.text.startsWith("-p tcp ") && r.text.endsWith("-m multiport --dports 31000,32000 -j RETURN"),
      ),
    );
  });

  test("the masquerade mark is outside Felix's marks and inside its mask", () => {
    assert.equal(MARK_IPVS_MASQ & MARK_ALL, 0);
    assert.equal(MARK_IPVS_MASQ & 0xffff0000, MARK_IPVS_MASQ);
  });

  test("chains: cluster-IP masquerade only with pod CIDRs; hairpin and marked traffic masqueraded; LB source ranges", () => {
    const text = (o: { podCidrs: string[] }) =>
      ipvsTableRules(4, o)
        .nat.chains.concat(ipvsTableRules(4, o).filter.chains)
        .map(renderChain)
        .flatMap((c) => c.rules.map((r) => `-A ${c.name} ${r.text.replace(/-m comment --comment "cali:[^"]+" /, "")}`))
        .join("\n");
    assert.equal(
      text({ podCidrs: ["10.244.0.0/16"] }),
      [
        '-A cali-IPVS-SERVICES -m comment --comment "Masquerade off-cluster traffic to cluster IPs" -m set --match-set cali40ipvs-cluster-ip dst,dst -m set ! --match-set cali40ipvs-pod-cidr src -j cali-IPVS-MARK-MASQ',
        '-A cali-IPVS-SERVICES -m comment --comment "Masquerade traffic to external and load-balancer IPs" -m set --match-set cali40ipvs-external dst,dst -j cali-IPVS-MARK-MASQ',
        '-A cali-IPVS-SERVICES -m comment --comment "Masquerade traffic to node ports" -m set --match-set cali40ipvs-node-port dst,dst -j cali-IPVS-MARK-MASQ',
        "-A cali-IPVS-MARK-MASQ -j MARK --set-xmark 0x400000/0x400000",
        '-A cali-IPVS-POSTROUTING -m comment --comment "Hairpin: an endpoint reaching itself through a service" -m set --match-set cali40ipvs-loop-back dst,dst,src -j MASQUERADE',
        "-A cali-IPVS-POSTROUTING -m mark ! --mark 0x400000/0x400000 -j RETURN",
        "-A cali-IPVS-POSTROUTING -j MARK --set-xmark 0x0/0x400000",
        '-A cali-IPVS-POSTROUTING -m comment --comment "IPVS service traffic requiring SNAT" -j MASQUERADE',
        '-A cali-IPVS-FIREWALL -m comment --comment "Load-balancer traffic from outside loadBalancerSourceRanges" -m set --match-set cali40ipvs-lb-fw dst,dst -m set ! --match-set cali40ipvs-lb-src dst,dst,src -j DROP',
        "-A cali-IPVS-FILTER -m set --match-set cali40ipvs-external dst,dst -j RETURN",
        "-A cali-IPVS-FILTER -m set --match-set cali40ipvs-cluster-ip dst,dst -j RETURN",
        "-A cali-IPVS-FILTER -m set --match-set cali40ipvs-external-local dst,dst -j RETURN",
        "-A cali-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set cali40ipvs-ips dst -j REJECT --reject-with icmp-port-unreachable",
      ].join("\n"),
    );
    assert.doesNotMatch(text({ podCidrs: [] }), /Masquerade off-cluster/);
    assert.doesNotMatch(
      text({ podCidrs: ["fd10::/64"] }),
      /Masquerade off-cluster/,
      "an IPv6 pool says nothing about IPv4 sources",
    );
  });
});

describe("IpvsStateBuilder", () => {
  const inputs = { servicePorts: SERVICES, nodeAddresses: ["192.168.1.10"], podCidrs: ["10.244.0.0/16"] };
  const base = () =>
    new StateBuilder(
      { nodeName: "n1", interfacePrefix: "cali", endpointToHostAction: "ACCEPT", rpFilter: "1" },
      // the builder's constructor renders the static tables; active rules and sets are not used here
      { takeDirty: () => ({ policies: new Set(), profiles: new Set(), endpoints: new Set() }) } as never,
      { takeDirty: () => new Set() } as never,
    ).current;

  test("puts ipvs, sets, chains, hooks first in the built-in chains (others' hook rules kept), sysctls", () => {
    const b = new IpvsStateBuilder({ scheduler: "rr" });
    const s0 = base();
    const s1 = produce(s0, (d) => b.put(d, inputs));
    assert.deepEqual(s1.ipvs!.boundAddresses, ["10.96.0.10", "10.96.0.11", "198.51.100.20", "203.0.113.7", "fd00::a"]);
    assert.equal(Object.keys(s1.ipvs!.services).length, 7);
    assert.ok(ipSetOf(s1.ipsets, "cali40ipvs-cluster-ip"));
    assert.equal(s1.sysctls["net/ipv4/vs/conntrack"], "1");
    const nat = renderTables(s1.iptables.ipv4).split("*nat")[1].split("COMMIT")[0];
    const hookLines = nat.split("\n").filter((l) => /^-A (PREROUTING|OUTPUT|POSTROUTING) /.test(l));
    assert.deepEqual(
      hookLines.map((l) => l.replace(/-m comment --comment "cali:[^"]+" /, "")),
      [
        "-A PREROUTING -j cali-IPVS-SERVICES",
        "-A OUTPUT -j cali-IPVS-SERVICES",
        "-A POSTROUTING -j cali-IPVS-POSTROUTING",
        "-A POSTROUTING -j cali-POSTROUTING",
      ],
    );
    assert.match(
      renderTables(s1.iptables.ipv4),
      /-A INPUT -m comment --comment "cali:[^"]+" -j cali-IPVS-FIREWALL\n-A INPUT -m comment --comment "cali:[^"]+" -m comment --comment "kubernetes ipvs access filter" -j cali-IPVS-FILTER\n-A INPUT -m comment --comment "cali:[^"]+" -j cali-INPUT\n/,
    );
    assert.equal(emptyState("n1").ipvs, undefined, "absent unless the IPVS mode puts it");
  });

  test("same inputs: every part keeps its identity; one endpoint change touches ipvs and the loop-back set only", () => {
    const b = new IpvsStateBuilder();
    const s1 = produce(base(), (d) => b.put(d, inputs));
    const s2 = produce(s1, (d) => b.put(d, { ...inputs, servicePorts: [...SERVICES] }));
    assert.equal(s2, s1, "nothing changed: the very same snapshot");
    const changed = [{ ...SERVICES[0], endpoints: [ep("10.244.1.5")] }, ...SERVICES.slice(1)];
    const s3 = produce(s1, (d) => b.put(d, { ...inputs, servicePorts: changed }));
    assert.notEqual(s3.ipvs, s1.ipvs);
    assert.equal(s3.iptables, s1.iptables);
    assert.equal(s3.sysctls, s1.sysctls);
    const changedSets = ipSetNames(s3.ipsets).filter((k) => ipSetOf(s3.ipsets, k) !== ipSetOf(s1.ipsets, k));
    assert.deepEqual(changedSets, ["cali40ipvs-loop-back"]);
  });

  test("kept up to date per ServicePort, the IP sets equal ipvsIpSets of the inputs after any sequence of puts", () => {
    // Each step: some of the services (the same objects, or copies with other endpoints), other node addresses or pod CIDRs.
    const step = fc.record({
      keep: fc.array(fc.boolean(), { minLength: SERVICES.length, maxLength: SERVICES.length }),
      copy: fc.array(fc.option(fc.constantFrom("10.244.3.7", "10.244.1.5", "fd10::9"), { nil: undefined }), {
        minLength: SERVICES.length,
        maxLength: SERVICES.length,
      }),
      nodeAddresses: fc.constantFrom(["192.168.1.10"], ["192.168.1.10", "fd01::10"], []),
      podCidrs: fc.constantFrom(["10.244.0.0/16"], ["10.244.0.0/16", "fd10::/64"], []),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 8 }), (steps) => {
        const b = new IpvsStateBuilder();
        let s = base();
        for (const st of steps) {
          const servicePorts = SERVICES.flatMap((x, i) => {
            if (!st.keep[i]) return [];
            const ip = st.copy[i];
            return [ip ? { ...x, endpoints: [...x.endpoints, ep(ip)] } : x];
          });
          const inputs = { servicePorts, nodeAddresses: st.nodeAddresses, podCidrs: st.podCidrs };
          s = produce(s, (d) => b.put(d, inputs));
          const bound = { ...inputs, boundAddresses: s.ipvs!.boundAddresses };
          for (const want of ipvsIpSets(servicePorts, st.nodeAddresses, bound)) {
            assert.deepEqual([...ipSetOf(s.ipsets, want.name)!.members].sort(), [...want.members].sort(), want.name);
            assert.equal(ipSetOf(s.ipsets, want.name)!.type, want.type);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
