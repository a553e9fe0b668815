// The networking part of the graph: pools and modes → routes, tunnels,
// neighbour/FDB entries and natOutgoing; incremental and identity-keeping.

import assert from "node:assert/strict";
import { test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import { felixNetworkConfigFromEnv, ipPoolToPool } from "../../../calc-graph/network/convert.js";
import { derivedVtepMac, vtepOf } from "../../../calc-graph/network/vtep.js";
import { resolveMtu } from "../../../ifaces/tunnel.js";
import { ipSetOf } from "../../../model/ipset-shards.js";
import { chainList, chainOf } from "../../../model/tables.js";
import { routeText } from "../../../routes/route.js";
import { update } from "../fixtures.js";

const node = (name: string, n: number, subnet = 250, extra: Record<string, string> = {}) =>
  update("Node", "", name, {
    kind: "Node",
    metadata: {
      name,
      labels: { zone: n === 3 ? "b" : "a" },
      annotations: {
        "projectcalico.org/IPv4Address": `172.31.${subnet}.${n}/24`,
        "projectcalico.org/IPv4VXLANTunnelAddr": `10.244.${n}.0`,
        ...extra,
      },
    },
    spec: { podCIDR: `10.244.${n}.0/24` },
    status: { addresses: [{ type: "InternalIP", address: `172.31.${subnet}.${n}` }] },
  });
const pool = (spec: Record<string, unknown>, name = "p") =>
  update("IPPool", "", name, {
    kind: "IPPool",
    metadata: { name },
    spec: { cidr: "10.244.0.0/16", blockSize: 24, ...spec },
  });
const felixConfig = (name: string, spec: Record<string, unknown>) =>
  update("FelixConfiguration", "", name, { kind: "FelixConfiguration", metadata: { name }, spec });
const routes = (g: CalcGraph) => Object.values(g.current.routes).map(routeText).sort();

test("switching a pool's mode rewrites the block routes and the tunnel, and nothing else", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  g.apply([node("node1", 1), node("node2", 2), node("node3", 3, 251), pool({ vxlanMode: "Never" })]);
  const before = g.current;
  assert.deepEqual(routes(g), [
    "10.244.2.0/24 via 172.31.250.2 proto 80",
    "10.244.3.0/24 via 172.31.251.3 proto 80",
    "blackhole 10.244.1.0/24 proto 80",
  ]);
  g.apply([pool({ vxlanMode: "CrossSubnet" })]);
  assert.deepEqual(routes(g), [
    "10.244.2.0/24 via 172.31.250.2 proto 80",
    "10.244.3.0/24 via 10.244.3.0 dev vxlan.calico proto 80 onlink",
    "blackhole 10.244.1.0/24 proto 80",
  ]);
  const after = g.current;
  for (const chain of chainList(after.iptables.ipv4.filter)) {
    if (chain.name === "cali-INPUT") continue; // VXLAN from known VTEPs only: checked below
    assert.equal(chain, chainOf(before.iptables.ipv4.filter, chain.name), `${chain.name} keeps its object`);
  }
  assert.match(chainOf(after.iptables.ipv4.filter, "cali-INPUT")!.rules[0].text, /cali40all-vxlan-net src .*-j ACCEPT/);
  assert.deepEqual([...ipSetOf(after.ipsets, "cali40all-vxlan-net")!.members].sort(), ["172.31.250.2", "172.31.251.3"]);
  assert.equal(after.routes["10.244.2.0/24"], before.routes["10.244.2.0/24"], "an unchanged route keeps its object");
  assert.deepEqual(Object.keys(after.network.fdb), [`vxlan.calico ${derivedVtepMac("node3")}`]);
  g.apply([pool({ vxlanMode: "Always" })]);
  assert.equal(Object.keys(g.current.network.neighbors).length, 2);
  g.apply([{ ...pool({}), value: null }]);
  assert.deepEqual(g.current.network.tunnels, {}, "no pool: no tunnel");
  assert.equal(g.current.network.poolsInUse, false);
  assert.equal(ipSetOf(g.current.ipsets, "cali40all-ipam-pools"), undefined);
});

test("a remote node change re-renders only that node's routes", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  g.apply([node("node1", 1), node("node2", 2), node("node3", 3), pool({ vxlanMode: "Always" })]);
  const r3 = g.current.routes["10.244.3.0/24"];
  g.apply([node("node2", 2, 250, { "projectcalico.org/IPv4VXLANTunnelAddr": "10.244.2.7" })]);
  assert.equal(g.current.routes["10.244.3.0/24"], r3);
  assert.equal(g.current.routes["10.244.2.0/24"].gateway, "10.244.2.7");
  assert.ok(g.current.network.neighbors["vxlan.calico 10.244.2.7"]);
  assert.equal(g.current.network.neighbors["vxlan.calico 10.244.2.0"], undefined);
});

test("CrossSubnet without this node's IPv4Address subnet encapsulates (no subnet is known to be shared)", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  const bare = update("Node", "", "node1", {
    kind: "Node",
    metadata: { name: "node1", annotations: { "projectcalico.org/IPv4VXLANTunnelAddr": "10.244.1.0" } },
    spec: { podCIDR: "10.244.1.0/24" },
    status: { addresses: [{ type: "InternalIP", address: "172.31.250.1" }] },
  });
  g.apply([bare, node("node2", 2), pool({ vxlanMode: "CrossSubnet" })]);
  assert.equal(g.current.routes["10.244.2.0/24"].dev, "vxlan.calico");
});

test("a remote VTEP without tunnel address gets no route and a problem; this node without one gets no device", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  const noTunnel = (name: string, n: number) =>
    update("Node", "", name, {
      kind: "Node",
      metadata: { name, annotations: { "projectcalico.org/IPv4Address": `172.31.250.${n}/24` } },
      spec: { podCIDR: `10.244.${n}.0/24` },
    });
  g.apply([noTunnel("node1", 1), noTunnel("node2", 2), pool({ vxlanMode: "Always" })]);
  assert.equal(g.current.routes["10.244.2.0/24"], undefined);
  assert.match(g.current.problems["Node//node2/routes"].message, /IPv4VXLANTunnelAddr/);
  assert.match(g.current.problems["Node//node1/vxlan"].message, /vxlan.calico is not created/);
  g.apply([node("node1", 1), node("node2", 2)]);
  assert.equal(g.current.problems["Node//node2/routes"], undefined);
  assert.equal(g.current.problems["Node//node1/vxlan"], undefined);
});

test("nodeSelector decides whether this node needs the device; vxlanEnabled overrides", () => {
  const g = new CalcGraph({ nodeName: "node3" });
  g.apply([
    node("node3", 3),
    node("node1", 1),
    pool({ vxlanMode: "Never" }),
    pool({ cidr: "10.250.0.0/16", vxlanMode: "Always", nodeSelector: "zone == 'a'" }, "q"),
  ]);
  assert.deepEqual(g.current.network.tunnels, {}, "zone b is not selected and no route uses VXLAN");
  g.apply([felixConfig("default", { vxlanEnabled: true })]);
  assert.ok(g.current.network.tunnels["vxlan.calico"]);
  g.apply([felixConfig("node.node3", { vxlanEnabled: false })]);
  assert.deepEqual(g.current.network.tunnels, {}, "node.<name> wins over default");
});

test("FELIX_* environment wins over FelixConfiguration", () => {
  const env = felixNetworkConfigFromEnv({ FELIX_VXLANVNI: "5000", FELIX_VXLANMTU: "1400" });
  const g = new CalcGraph({ nodeName: "node1", networkEnv: env });
  g.apply([
    node("node1", 1),
    pool({ vxlanMode: "Always" }),
    felixConfig("default", { vxlanVNI: 4097, vxlanPort: 8472, vxlanMTU: 1300 }),
  ]);
  const t = g.current.network.tunnels["vxlan.calico"];
  assert.equal(t.vni, 5000);
  assert.equal(t.port, 8472);
  assert.equal(t.mtu, 1400);
  assert.throws(() => felixNetworkConfigFromEnv({ FELIX_VXLANPORT: "x" }), /FELIX_VXLANPORT/);
});

test("cluster pod CIDRs: enabled pools' CIDRs, else the nodes' pod CIDRs", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  g.apply([node("node1", 1), node("node2", 2)]);
  assert.deepEqual(g.network.clusterPodCidrs(4), ["10.244.1.0/24", "10.244.2.0/24"]);
  g.apply([pool({}), pool({ cidr: "10.99.0.0/16", disabled: true }, "off")]);
  assert.deepEqual(g.network.clusterPodCidrs(4), ["10.244.0.0/16"]);
  assert.deepEqual(g.network.clusterPodCidrs(6), []);
});

test("IPPool validation and defaults", () => {
  const p = ipPoolToPool({ metadata: { name: "x" }, spec: { cidr: "10.1.2.3/16" } });
  assert.equal(p.cidr, "10.1.0.0/16");
  assert.equal(p.blockSize, 26);
  assert.equal(p.vxlanMode, "Never");
  assert.equal(
    ipPoolToPool({ metadata: { name: "x" }, spec: { cidr: "10.1.0.0/16", vxlanMode: "crosssubnet" } }).vxlanMode,
    "CrossSubnet",
  );
  assert.throws(
    () => ipPoolToPool({ metadata: { name: "x" }, spec: { cidr: "10.1.0.0/16", blockSize: 8 } }),
    /blockSize/,
  );
  assert.throws(
    () => ipPoolToPool({ metadata: { name: "x" }, spec: { cidr: "10.1.0.0/16", vxlanMode: "Sometimes" } }),
    /vxlanMode/,
  );
});

test("VTEP MAC derivation and MTU resolution follow Felix", () => {
  assert.match(derivedVtepMac("node1"), /^66(:[0-9a-f]{2}){5}$/);
  assert.equal(derivedVtepMac("node1"), derivedVtepMac("node1"));
  assert.deepEqual(resolveMtu({ vxlan: true, ipip: false, ifacePattern: "" }, 1500), {
    hostMtu: 1500,
    vxlanMtu: 1450,
    ipipMtu: 1480,
    vxlanMtuV6: 1430,
    podMtu: 1450,
  });
  assert.equal(resolveMtu({ vxlan: true, ipip: true, vxlanMtu: 1460, ifacePattern: "" }, 1500).podMtu, 1460);
  // IPv6 VXLAN's 40-byte outer header: Felix's VXLANMTUV6 is the host MTU − 70.
  assert.equal(resolveMtu({ vxlan: true, vxlanV6: true, ipip: false, ifacePattern: "" }, 1500).podMtu, 1430);
  assert.equal(resolveMtu({ vxlan: false, ipip: false, ifacePattern: "" }, 9000).podMtu, 9000);
});

test("IPv6 VXLAN: a node's IPv6 VTEP, its MAC derived from <name>-v6 as Felix derives it", () => {
  const n = { name: "node2", internalIPs: ["fd00:fe11::2"], podCIDRs: [], vxlanTunnelAddrV6: "fd00:10:244:2::" };
  const v6 = vtepOf(n, 6)!;
  assert.equal(v6.nodeIp, "fd00:fe11::2");
  assert.equal(v6.mac, derivedVtepMac("node2-v6"));
  assert.notEqual(v6.mac, derivedVtepMac("node2"));
  assert.equal(vtepOf(n, 4), undefined, "no IPv4 tunnel address, no IPv4 VTEP");
});
