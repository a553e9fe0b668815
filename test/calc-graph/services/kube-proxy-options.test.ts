// kube-proxy's flags in the iptables proxy mode: localhost node ports (and
// route_localnet, the localnet firewall), --nodeport-addresses, --masquerade-all,
// the INVALID drop; and their FELIX_KUBEPROXY* settings.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { DEFAULT_KUBE_PROXY_OPTIONS, type KubeProxyOptions } from "../../../calc-graph/services/model.js";
import { localhostNodePorts, nodePortIPs } from "../../../calc-graph/services/node-port-addresses.js";
import { chainOf } from "../../../model/tables.js";
import { kubeProxyOptionsFromEnv } from "../../../src/kube-proxy-config.js";
import { node } from "../fixtures.js";
import { sliceUpdate, svcUpdate } from "./fixtures.js";

const rules = (s: DesiredState, table: "nat" | "filter", chain: string, v: 4 | 6 = 4) =>
  (chainOf(s.iptables[v === 4 ? "ipv4" : "ipv6"][table], chain)?.rules ?? []).map((r) =>
    r.text.replace(/-m comment --comment "cali:[^"]+" /, ""),
  );

function graph(o: Partial<KubeProxyOptions> = {}, mode: "iptables" | "ipvs" = "iptables") {
  const g = new CalcGraph({ nodeName: "node1", proxyMode: mode, kubeProxy: { ...DEFAULT_KUBE_PROXY_OPTIONS, ...o } });
  g.apply([
    node("node1", "10.65.1.0/24", "172.18.0.1"),
    svcUpdate("web", {
      type: "NodePort",
      clusterIP: "10.96.0.10",
      ports: [{ name: "http", port: 80, nodePort: 30080 }],
    }),
    sliceUpdate("web-1", "web", [{ ip: "10.65.1.10", node: "node1" }]),
  ]);
  return g;
}

const NODEPORTS_RULE = /kubernetes service nodeports/;

describe("kube-proxy's flags in the iptables proxy mode", () => {
  test("defaults: localhost node ports on IPv4 (route_localnet, cali-FIREWALL), never on IPv6; the INVALID drop", () => {
    const s = graph().current;
    assert.deepEqual(
      rules(s, "nat", "cali-SERVICES").filter((r) => NODEPORTS_RULE.test(r)),
      [
        '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j cali-NODEPORTS',
      ],
    );
    assert.match(rules(s, "nat", "cali-SERVICES", 6).at(-1) ?? "", /^! -d ::1\/128 .*-j cali-NODEPORTS$/);
    assert.equal(s.sysctls["net/ipv4/conf/all/route_localnet"], "1");
    assert.deepEqual(rules(s, "filter", "cali-FIREWALL"), [
      '! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    ]);
    assert.equal(rules(s, "filter", "cali-FIREWALL", 6).length, 0);
    assert.deepEqual(rules(s, "filter", "cali-PROXY-FORWARD")[0], "-m conntrack --ctstate INVALID -j DROP");
    // The cluster IP masquerades only off-cluster sources.
    assert.ok(
      rules(s, "nat", "cali-SVC-XRY76EGRC3BSCIIJ").some((r) => r.includes("! --match-set cali40svc-pod-cidrs src")),
    );
  });

  test("localhost node ports off: 127.0.0.0/8 excluded, no route_localnet, no cali-FIREWALL", () => {
    const s = graph({ localhostNodePorts: false }).current;
    assert.match(
      rules(s, "nat", "cali-SERVICES").at(-1) ?? "",
      /^! -d 127\.0\.0\.0\/8 .*--dst-type LOCAL -j cali-NODEPORTS$/,
    );
    assert.equal(s.sysctls["net/ipv4/conf/all/route_localnet"], undefined);
    assert.equal(chainOf(s.iptables.ipv4.filter, "cali-FIREWALL"), undefined);
  });

  test("nf_conntrack_tcp_be_liberal=1: no INVALID drop, as kube-proxy", () => {
    const s = graph({ conntrackTCPLiberal: true }).current;
    assert.ok(!rules(s, "filter", "cali-PROXY-FORWARD").some((r) => r.includes("INVALID")));
  });

  test("--masquerade-all: the cluster IP masquerades every source", () => {
    const r = rules(graph({ masqueradeAll: true }).current, "nat", "cali-SVC-XRY76EGRC3BSCIIJ")[0];
    assert.equal(
      r,
      '-d 10.96.0.10/32 -p tcp -m comment --comment "demo/web:http cluster IP" -m tcp --dport 80 -j cali-MARK-MASQ',
    );
  });

  test("--nodeport-addresses CIDRs: one rule per matching host address (loopback only with localhost node ports); follows the host's addresses", () => {
    const g = graph({ nodePortAddresses: { kind: "cidrs", cidrs: ["127.0.0.0/8", "192.168.0.0/16"] } });
    // Before the host's addresses are known, the Node's InternalIPs are the candidates: none matches.
    assert.deepEqual(
      rules(g.current, "nat", "cali-SERVICES").filter((r) => NODEPORTS_RULE.test(r)),
      [],
    );
    g.setHostAddresses(["127.0.0.1", "172.18.0.1", "192.168.5.5", "192.168.7.7", "fd00::1"]);
    g.apply([]);
    const dests = () =>
      rules(g.current, "nat", "cali-SERVICES")
        .filter((r) => NODEPORTS_RULE.test(r))
        .map((r) => r.split(" ")[1]);
    assert.deepEqual(dests(), ["127.0.0.1/32", "192.168.5.5/32", "192.168.7.7/32"]);
    g.setHostAddresses(["127.0.0.1", "192.168.5.5"]);
    g.apply([]);
    assert.deepEqual(dests(), ["127.0.0.1/32", "192.168.5.5/32"]);
    // IPv6 has no CIDR listed: every local address, as kube-proxy.
    assert.match(rules(g.current, "nat", "cali-SERVICES", 6).at(-1) ?? "", /--dst-type LOCAL -j cali-NODEPORTS$/);
  });

  test("--nodeport-addresses primary: the node's first InternalIP; it moves with the Node", () => {
    const g = graph({ nodePortAddresses: { kind: "primary" } });
    assert.match(rules(g.current, "nat", "cali-SERVICES").at(-1) ?? "", /^-d 172\.18\.0\.1\/32 .*-j cali-NODEPORTS$/);
    assert.equal(g.current.sysctls["net/ipv4/conf/all/route_localnet"], undefined, "primary never includes loopback");
    g.apply([node("node1", "10.65.1.0/24", "172.18.0.9")]);
    assert.match(rules(g.current, "nat", "cali-SERVICES").at(-1) ?? "", /^-d 172\.18\.0\.9\/32 /);
  });

  test("IPVS mode: none of this (no route_localnet, no cali-FIREWALL)", () => {
    const s = graph({}, "ipvs").current;
    assert.equal(s.sysctls["net/ipv4/conf/all/route_localnet"], undefined);
    assert.equal(chainOf(s.iptables.ipv4.filter, "cali-FIREWALL"), undefined);
  });
});

describe("resolution helpers", () => {
  test("nodePortIPs and localhostNodePorts", () => {
    assert.equal(nodePortIPs({ kind: "all" }, 4, ["10.0.0.1"], undefined), undefined);
    assert.deepEqual(nodePortIPs({ kind: "primary" }, 6, ["10.0.0.1", "fd00::2", "fd00::1"], undefined), ["fd00::2"]);
    assert.deepEqual(nodePortIPs({ kind: "primary" }, 6, ["10.0.0.1"], undefined), []);
    assert.equal(nodePortIPs({ kind: "cidrs", cidrs: ["0.0.0.0/0"] }, 4, [], ["10.0.0.1"]), undefined);
    assert.equal(
      localhostNodePorts(true, { kind: "cidrs", cidrs: ["fd00::/64"] }),
      true,
      "no IPv4 CIDR: all IPv4 addresses",
    );
    assert.equal(localhostNodePorts(true, { kind: "cidrs", cidrs: ["10.0.0.0/8"] }), false);
    assert.equal(localhostNodePorts(false, { kind: "all" }), false);
  });

  test("FELIX_KUBEPROXY* settings", () => {
    assert.deepEqual(kubeProxyOptionsFromEnv({}), DEFAULT_KUBE_PROXY_OPTIONS);
    const o = kubeProxyOptionsFromEnv({
      FELIX_KUBEPROXYLOCALHOSTNODEPORTS: "false",
      FELIX_KUBEPROXYMASQUERADEALL: "true",
      FELIX_KUBEPROXYNODEPORTADDRESSES: "192.168.1.5/16, 127.0.0.1/8",
    });
    assert.deepEqual(o, {
      localhostNodePorts: false,
      masqueradeAll: true,
      nodePortAddresses: { kind: "cidrs", cidrs: ["127.0.0.0/8", "192.168.0.0/16"] },
      conntrackTCPLiberal: false,
    });
    assert.deepEqual(kubeProxyOptionsFromEnv({ FELIX_KUBEPROXYNODEPORTADDRESSES: "primary" }).nodePortAddresses, {
      kind: "primary",
    });
    assert.throws(
      () => kubeProxyOptionsFromEnv({ FELIX_KUBEPROXYNODEPORTADDRESSES: "eth0" }),
      /FELIX_KUBEPROXYNODEPORTADDRESSES/,
    );
    assert.throws(
      () => kubeProxyOptionsFromEnv({ FELIX_KUBEPROXYMASQUERADEALL: "maybe" }),
      /FELIX_KUBEPROXYMASQUERADEALL/,
    );
  });
});

describe("IPVS mode: node-port addresses and bound addresses", () => {
  test("node ports on every local address but loopback and IPv6 link-local; nothing bound on loopback", () => {
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "ipvs" });
    g.apply([
      node("node1", "10.65.1.0/24", "172.18.0.1"),
      svcUpdate("web", {
        type: "NodePort",
        clusterIP: "10.96.0.10",
        externalIPs: ["127.0.0.1", "203.0.113.9"],
        ports: [{ name: "http", port: 80, nodePort: 30080 }],
      }),
      sliceUpdate("web-1", "web", [{ ip: "10.65.1.10", node: "node1" }]),
    ]);
    const nodePortAddrs = () =>
      Object.values(g.current.ipvs!.services)
        .filter((v) => v.service.port === 30080)
        .map((v) => v.service.address)
        .sort();
    assert.deepEqual(nodePortAddrs(), ["172.18.0.1"], "before the host's addresses are read: the Node's");
    g.setHostAddresses(["127.0.0.1", "172.18.0.1", "192.168.9.9", "fe80::1", "::1"]);
    g.apply([]);
    assert.deepEqual(nodePortAddrs(), ["172.18.0.1", "192.168.9.9"]);
    assert.deepEqual(g.current.ipvs!.boundAddresses, ["10.96.0.10", "203.0.113.9"]);
    assert.match(g.current.problems["Service/demo/web"]?.message ?? "", /127\.0\.0\.1/);
    // --nodeport-addresses narrows them.
    const p = new CalcGraph({
      nodeName: "node1",
      proxyMode: "ipvs",
      kubeProxy: { ...DEFAULT_KUBE_PROXY_OPTIONS, nodePortAddresses: { kind: "cidrs", cidrs: ["192.168.0.0/16"] } },
    });
    p.setHostAddresses(["127.0.0.1", "172.18.0.1", "192.168.9.9"]);
    p.apply([
      node("node1", "10.65.1.0/24", "172.18.0.1"),
      svcUpdate("web", {
        type: "NodePort",
        clusterIP: "10.96.0.10",
        ports: [{ name: "http", port: 80, nodePort: 30080 }],
      }),
    ]);
    assert.deepEqual(
      Object.values(p.current.ipvs!.services)
        .filter((v) => v.service.port === 30080)
        .map((v) => v.service.address),
      ["192.168.9.9"],
    );
  });
});

describe("loadBalancerSourceRanges: the allow-from-node exemption follows the node's primary IP", () => {
  const twoIPs = (first: string, second: string) => ({
    kind: "Node" as const,
    namespace: "",
    name: "node1",
    value: {
      kind: "Node",
      metadata: { name: "node1" },
      spec: { podCIDR: "10.65.1.0/24" },
      status: {
        addresses: [
          { type: "InternalIP", address: first },
          { type: "InternalIP", address: second },
        ],
      },
    } as never,
  });
  const lb = svcUpdate(
    "lb",
    {
      type: "LoadBalancer",
      clusterIP: "10.96.0.20",
      loadBalancerSourceRanges: ["192.168.0.0/16"],
      ports: [{ name: "http", port: 80, nodePort: 30090 }],
    },
    { status: { loadBalancer: { ingress: [{ ip: "198.51.100.9" }] } } },
  );

  test("primary in the range: admitted; primary outside it (the other InternalIP inside): not, as kube-proxy", () => {
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables" });
    g.apply([
      twoIPs("192.168.1.1", "172.18.0.1"),
      lb,
      sliceUpdate("lb-1", "lb", [{ ip: "10.65.1.10", node: "node1" }]),
    ]);
    const fw = chainNamesOf(g.current).find((c) => c.startsWith("cali-FW-"));
    assert.ok(fw);
    assert.ok(rules(g.current, "nat", fw).some((r) => r.startsWith("-s 198.51.100.9/32")));
    g.apply([twoIPs("172.18.0.1", "192.168.1.1")]);
    assert.ok(!rules(g.current, "nat", fw).some((r) => r.startsWith("-s 198.51.100.9/32")));
  });
});

function chainNamesOf(s: DesiredState): string[] {
  return Object.values(s.iptables.ipv4.nat.shards).flatMap((x) => Object.keys(x));
}

describe("IPVS mode: --masquerade-all", () => {
  test("every packet to a cluster IP is marked for masquerade, not only off-cluster ones", () => {
    const s = graph({ masqueradeAll: true }, "ipvs").current;
    assert.deepEqual(
      rules(s, "nat", "cali-IPVS-SERVICES")[0],
      '-m comment --comment "Masquerade all traffic to cluster IPs" -m set --match-set cali40ipvs-cluster-ip dst,dst -j cali-IPVS-MARK-MASQ',
    );
    const plain = graph({}, "ipvs").current;
    assert.match(rules(plain, "nat", "cali-IPVS-SERVICES")[0], /! --match-set cali40ipvs-pod-cidr src/);
  });
});
