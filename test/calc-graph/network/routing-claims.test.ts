// Hostile routing claims (issue 14) and borrowed IPAM addresses (issue 13
// item 7): each test makes the claim an attacker (a compromised node, or
// whoever writes a pod's status) would make and asserts the safe outcome.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import { hashNetMembers } from "../../../calc-graph/ipsets/hash-net.js";
import { derivedVtepMac } from "../../../calc-graph/network/vtep.js";
import { ipvsIpSets } from "../../../calc-graph/services/ipvs-rules.js";
import { ipSetList, ipSetOf } from "../../../model/ipset-shards.js";
import { namespace, pod, policy, update } from "../fixtures.js";
import { ep, sp } from "../services/service-fixtures.js";
import { affinity, bothOrders, node, pool, three } from "./routing-fixtures.js";

describe("block claims", () => {
  test("a block outside every IP pool (0.0.0.0/1) gets no route, and says why", () => {
    const g = bothOrders("node1", [
      ...three,
      pool(),
      affinity("node2", "0.0.0.0/1"),
      affinity("node2", "10.244.2.0/24"),
    ]);
    assert.equal(g.current.routes["0.0.0.0/1"], undefined);
    assert.equal(g.current.routes["10.244.2.0/24"]?.gateway, "172.31.250.2", "its legitimate block still routes");
    assert.match(
      g.current.problems["Node//node2/routes"].message,
      /block 0\.0\.0\.0\/1 refused: it lies in no IP pool/,
    );
  });

  test("an affinity that is not one of the pool's blocks (the whole pool) is refused", () => {
    const g = bothOrders("node1", [...three, pool(), affinity("node3", "10.244.0.0/16")]);
    assert.equal(g.current.routes["10.244.0.0/16"], undefined);
    assert.match(g.current.problems["Node//node3/routes"].message, /pool p has \/24 blocks/);
  });

  test("with pools, a pod CIDR outside them is refused; without pools, affinities are", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    g.apply([node("node1", 1), node("node2", 2, {}, "0.0.0.0/1"), pool()]);
    assert.equal(g.current.routes["0.0.0.0/1"], undefined);
    assert.match(g.current.problems["Node//node2/routes"].message, /pod CIDR 0\.0\.0\.0\/1 refused/);
    const h = new CalcGraph({ nodeName: "node1" });
    h.apply([...three, affinity("node2", "10.244.2.0/24")]);
    assert.equal(h.current.routes["10.244.2.0/24"], undefined, "an affinity needs a pool");
    assert.equal(h.current.routes["10.244.3.0/24"]?.gateway, "172.31.250.3", "pod CIDRs route without pools");
  });

  test("pools of one family judge only that family's claims: an IPv6 pod CIDR beside IPv4 pools stays", () => {
    const dual = update("Node", "", "node1", {
      kind: "Node",
      metadata: { name: "node1" },
      spec: { podCIDRs: ["10.244.1.0/24", "fd00:10:244:1::/64"] },
      status: { addresses: [{ type: "InternalIP", address: "172.31.250.1" }] },
    });
    const g = new CalcGraph({ nodeName: "node1" });
    g.apply([dual, pool()]);
    assert.equal(g.current.routes["fd00:10:244:1::/64"]?.type, "blackhole");
    assert.equal(g.current.routes["10.244.1.0/24"]?.type, "blackhole");
  });

  test("a node claiming this node's block does not take it: the blackhole stays", () => {
    const g = bothOrders("node2", [
      ...three,
      pool(),
      affinity("node1", "10.244.2.0/24"),
      affinity("node2", "10.244.2.0/24"),
    ]);
    assert.equal(g.current.routes["10.244.2.0/24"].type, "blackhole");
    assert.match(
      g.current.problems["Node//node1/routes"].message,
      /block 10\.244\.2\.0\/24 refused: node node2 holds it/,
    );
  });

  test("two remote nodes claiming one block: the first by name keeps it, in any order", () => {
    const g = bothOrders("node1", [
      ...three,
      pool(),
      affinity("node3", "10.244.9.0/24"),
      affinity("node2", "10.244.9.0/24"),
    ]);
    assert.equal(g.current.routes["10.244.9.0/24"].node, "node2");
    // node2 lets go: node3's claim holds now.
    g.apply([{ ...affinity("node2", "10.244.9.0/24"), value: null }]);
    assert.equal(g.current.routes["10.244.9.0/24"].node, "node3");
  });
});

describe("VTEP claims", () => {
  test("a node claiming another's VTEP MAC does not steal its FDB entry", () => {
    const mac2 = derivedVtepMac("node2");
    const g = bothOrders("node1", [
      node("node1", 1),
      node("node2", 2),
      node("node0", 4, { "projectcalico.org/VXLANTunnelMACAddr": mac2 }),
      pool({ vxlanMode: "Always" }),
    ]);
    const fdb = Object.values(g.current.network.fdb);
    assert.deepEqual(
      fdb.filter((e) => e.mac === mac2).map((e) => [e.node, e.dst]),
      [["node0", "172.31.250.4"]],
      "node0 comes first by name: it keeps the MAC (deterministic), node2 is refused",
    );
    assert.match(g.current.problems["Node//node2/routes"].message, /VTEP refused: its MAC .* is node node0's/);
    assert.equal(g.current.routes["10.244.2.0/24"], undefined, "no VXLAN route to the refused VTEP");
  });

  test("a node claiming this node's VTEP MAC or tunnel address is refused, whatever its name", () => {
    const mac1 = derivedVtepMac("node1");
    const g = bothOrders("node1", [
      node("node1", 1),
      node("a-node", 5, { "projectcalico.org/VXLANTunnelMACAddr": mac1 }),
      node("b-node", 6, { "projectcalico.org/IPv4VXLANTunnelAddr": "10.244.1.0" }),
      pool({ vxlanMode: "Always" }),
    ]);
    assert.deepEqual(Object.values(g.current.network.fdb), []);
    assert.deepEqual(Object.values(g.current.network.neighbors), []);
    assert.match(g.current.problems["Node//a-node/routes"].message, /MAC .* is node node1's/);
    assert.match(g.current.problems["Node//b-node/routes"].message, /tunnel address 10\.244\.1\.0 is node node1's/);
  });
});

describe("pod addresses", () => {
  const ns = namespace("x");
  const allowWeb = policy("x", "allow-web", {
    podSelector: {},
    ingress: [{ from: [{ podSelector: { matchLabels: { role: "web" } } }] }],
  });
  const members = (g: CalcGraph) => ipSetList(g.current.ipsets).flatMap((s) => [...s.members]);

  test("a pod claiming a node's address gets no route and joins no allow set", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    g.apply([
      ...three,
      pool(),
      ns,
      allowWeb,
      pod("x", "victim", { ip: "10.244.1.5" }),
      pod("x", "web", { ip: "10.244.1.9", labels: { role: "web" } }),
      pod("x", "evil", { ip: "172.31.250.2", labels: { role: "web" } }),
      pod("x", "evil-tunnel", { node: "node2", ip: "10.244.3.0", labels: { role: "web" } }),
    ]);
    assert.equal(
      g.current.endpoints["x/evil"],
      undefined,
      "no endpoint: its interface stays on 'Unknown interface' DROP",
    );
    assert.equal(g.current.routes["172.31.250.2/32"], undefined);
    assert.ok(members(g).includes("10.244.1.9"), "the allow set exists, with the legitimate web pod");
    assert.ok(!members(g).includes("172.31.250.2"), "not in the allow set");
    assert.ok(!members(g).includes("10.244.3.0"), "node3's tunnel address is not a pod's");
    assert.match(g.current.problems["Pod/x/evil/addresses"].message, /172\.31\.250\.2 is node node2's address/);
    assert.match(g.current.problems["Pod/x/evil-tunnel/addresses"].message, /10\.244\.3\.0 is node node3's address/);
  });

  test("with pools, a pod address outside every pool is refused; the pod's other address stays", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    g.apply([...three, pool(), ns, allowWeb, pod("x", "victim", { ip: "10.244.1.5" })]);
    g.apply([pod("x", "evil", { ips: ["10.244.1.6", "8.8.8.8"], labels: { role: "web" } })]);
    assert.deepEqual(g.current.endpoints["x/evil"].ipv4Nets, ["10.244.1.6/32"]);
    assert.equal(g.current.routes["8.8.8.8/32"], undefined);
    assert.ok(members(g).includes("10.244.1.6") && !members(g).includes("8.8.8.8"));
    assert.match(g.current.problems["Pod/x/evil/addresses"].message, /8\.8\.8\.8 lies in no IP pool/);
    // The pool grows to hold it (an admin's decision): the address is admitted, the problem goes.
    g.apply([pool({}, "p"), pool({ cidr: "8.8.8.0/24" }, "q")]);
    assert.deepEqual(g.current.endpoints["x/evil"].ipv4Nets, ["10.244.1.6/32", "8.8.8.8/32"]);
    assert.equal(g.current.problems["Pod/x/evil/addresses"], undefined);
  });

  test("without pools, pod addresses are only checked against node addresses", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    g.apply([...three, pod("x", "a", { ip: "192.168.7.7" })]);
    assert.deepEqual(g.current.endpoints["x/a"].ipv4Nets, ["192.168.7.7/32"]);
  });
});

describe("borrowed IPAM addresses", () => {
  const borrowed = pod("x", "b", { node: "node2", ip: "10.244.1.77" });

  test("on the block's holder: a /32 to the borrowing node beats the block's blackhole", () => {
    const g = bothOrders("node1", [...three, pool(), borrowed]);
    assert.equal(g.current.routes["10.244.1.0/24"].type, "blackhole");
    assert.deepEqual(g.current.routes["10.244.1.77/32"], {
      dst: "10.244.1.77/32",
      kind: "remote-workload",
      type: "unicast",
      scope: "universe",
      node: "node2",
      gateway: "172.31.250.2",
    });
  });

  test("on a third node: the /32 goes to the borrowing node, the block to its holder; VXLAN like the block", () => {
    const g = bothOrders("node3", [...three, pool({ vxlanMode: "Always" }), borrowed]);
    assert.equal(g.current.routes["10.244.1.0/24"].gateway, "10.244.1.0");
    assert.deepEqual(
      [g.current.routes["10.244.1.77/32"].gateway, g.current.routes["10.244.1.77/32"].dev],
      ["10.244.2.0", "vxlan.calico"],
    );
  });

  test("a node holding no block at all (IPAM lent every address): its pods are routed, and its VTEP known", () => {
    const nodeless = (name: string, n: number) => node(name, n, {}, "");
    const g = bothOrders("node1", [
      node("node1", 1),
      nodeless("node4", 4),
      pool({ vxlanMode: "Always" }),
      affinity("node1", "10.244.1.0/24"),
      pod("x", "lent", { node: "node4", ip: "10.244.1.90" }),
    ]);
    assert.deepEqual(
      [g.current.routes["10.244.1.90/32"]?.gateway, g.current.routes["10.244.1.90/32"]?.dev],
      ["10.244.4.0", "vxlan.calico"],
    );
    assert.deepEqual(
      Object.values(g.current.network.fdb).map((e) => e.node),
      ["node4"],
      "the FDB entry the route needs",
    );
    g.apply([{ ...pod("x", "lent", { node: "node4", ip: "10.244.1.90" }), value: null }]);
    assert.equal(g.current.routes["10.244.1.90/32"], undefined);
    assert.deepEqual(Object.values(g.current.network.fdb), [], "no route uses node4's VTEP any more");
  });

  test("on the borrowing node itself: the local workload route, nothing else", () => {
    const g = new CalcGraph({ nodeName: "node2" });
    g.apply([...three, pool(), borrowed]);
    assert.equal(g.current.routes["10.244.1.77/32"].kind, "local-workload");
  });

  test("an address in the node's own block needs no /32; the route goes with the pod", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    g.apply([...three, pool(), pod("x", "own", { node: "node2", ip: "10.244.2.9" }), borrowed]);
    assert.equal(g.current.routes["10.244.2.9/32"], undefined);
    g.apply([{ ...borrowed, value: null }]);
    assert.equal(g.current.routes["10.244.1.77/32"], undefined);
  });

  test("a pod claiming the address of a pod on the block's holder gets no /32: the holder's pod keeps it", () => {
    const g = bothOrders("node3", [
      ...three,
      pool(),
      pod("x", "real", { node: "node1", ip: "10.244.1.5" }),
      pod("x", "claim", { node: "node2", ip: "10.244.1.5" }),
    ]);
    assert.equal(g.current.routes["10.244.1.5/32"], undefined);
    assert.equal(g.current.routes["10.244.1.0/24"].node, "node1");
  });

  test("when a local pod leaves, a remote pod's route for the same address comes back", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const local = pod("x", "local", { node: "node1", ip: "10.244.3.50" });
    g.apply([...three, pool(), local, pod("x", "remote", { node: "node2", ip: "10.244.3.50" })]);
    assert.equal(g.current.routes["10.244.3.50/32"].kind, "local-workload");
    g.apply([{ ...local, value: null }]);
    assert.equal(g.current.routes["10.244.3.50/32"].node, "node2");
  });
});

describe("hash:net sets never get a /0", () => {
  test("a /0 becomes two /1 halves; host prefixes are bare", () => {
    assert.deepEqual(hashNetMembers(["0.0.0.0/0", "::/0", "10.0.0.1/32", "fd00::1/128", "10.1.0.0/16"]), [
      "0.0.0.0/1",
      "128.0.0.0/1",
      "::/1",
      "8000::/1",
      "10.0.0.1",
      "fd00::1",
      "10.1.0.0/16",
    ]);
  });

  test("loadBalancerSourceRanges 0.0.0.0/0 (a tenant's Service) reaches the IPVS hash:ip,port,net set as two halves", () => {
    const sets = ipvsIpSets(
      [
        sp({
          loadBalancerIPs: ["198.51.100.20"],
          loadBalancerSourceRanges: ["0.0.0.0/0"],
          endpoints: [ep("10.244.1.5")],
        }),
      ],
      [],
      { podCidrs: ["0.0.0.0/0"] },
    );
    const byName = Object.fromEntries(sets.map((s) => [s.name, [...s.members].sort()]));
    assert.deepEqual(byName["cali40ipvs-lb-src"], [
      "198.51.100.20,tcp:80,0.0.0.0/1",
      "198.51.100.20,tcp:80,128.0.0.0/1",
    ]);
    assert.deepEqual(byName["cali40ipvs-pod-cidr"], ["0.0.0.0/1", "128.0.0.0/1"]);
  });

  test("a pool of 0.0.0.0/0 reaches the natOutgoing sets as two halves", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    g.apply([node("node1", 1), pool({ cidr: "0.0.0.0/0", natOutgoing: true })]);
    assert.deepEqual([...ipSetOf(g.current.ipsets, "cali40masq-ipam-pools")!.members].sort(), [
      "0.0.0.0/1",
      "128.0.0.0/1",
    ]);
  });
});
