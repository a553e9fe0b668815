// End to end with the real kernel, the rules the graph renders for a host
// endpoint's three kinds of policy, loaded into node1's namespace (ipset and
// iptables-restore) and judged by real connections from node2:
//   - normal policy (filter cali-fh-eth0): allows tcp/80 and tcp/81 in;
//   - preDNAT policy (mangle cali-fh-eth0, before conntrack's DNAT): denies
//     tcp/81, which the normal policy allows: it never gets there;
//   - doNotTrack policy (raw cali-fh-/cali-th-eth0): allows udp/80 in and
//     udp back to node2, untracked; without it the normal policy (tcp
//     only) would drop udp/80.
// The policies are the graph's internal model (Calico policy manifests
// convert to the same model); SSH stays failsafe throughout.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { Policy } from "../../calc-graph/model.js";
import { eq } from "../../calc-graph/selector/selector.js";
import { NFT_RULES } from "../../nftables/render.js";
import { renderNftTable } from "../../nftables/table-text.js";
import { ipsetsText, iptablesText } from "../../src/dump/views.js";
import { nodeManifest } from "../../src/netns/manifests.js";
import { iptablesCmd, requirementsMissing, Topology, type TopoNode } from "../../src/netns/topology.js";
import { update } from "../calc-graph/fixtures.js";
import { globalPolicy, hostEndpoint } from "../calc-graph/hosts/fixtures.js";
import { skipIf } from "../helpers/skip.js";
import { ruleCounter, TEST_DATAPLANE } from "./dataplane-mode.js";

const skip = requirementsMissing();

function load(ns: string, cmd: string, args: string[], input: string): void {
  const r = spawnSync("ip", ["netns", "exec", ns, cmd, ...args], { input, encoding: "utf8", timeout: 20_000 });
  assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
}

describe("host endpoint policy kinds in the kernel", skipIf(skip), () => {
  let topo: Topology;
  let n1: TopoNode;
  let n2: TopoNode;

  before(async () => {
    topo = await Topology.create({ stem: "fxk" });
    n1 = await topo.addNode("node1", {
      underlayIp: "172.31.250.1",
      podCIDR: "10.65.1.0/24",
      servers: { tcp: [22, 80, 81], udp: [80, 81] },
    });
    n2 = await topo.addNode("node2", { underlayIp: "172.31.250.2", podCIDR: "10.65.2.0/24" });
  });

  after(async () => {
    await topo?.destroy();
  });

  function program(policies: readonly Policy[]): void {
    const nft = TEST_DATAPLANE === "nftables";
    const g = new CalcGraph({ nodeName: "node1", ...(nft ? { ruleRenderer: NFT_RULES } : {}) });
    for (const p of policies) g.converter.policies$.next({ key: p.key, policy: p });
    const s = g.apply([
      update("Node", "", "node1", nodeManifest(n1)),
      update("Node", "", "node2", nodeManifest(n2)),
      hostEndpoint("node1-eth0", { interfaceName: "eth0" }, { role: "node" }),
    ]);
    if (nft) {
      // The whole table replaced in one transaction, as the syncer's last resort does.
      // (A file: nft cannot open /dev/stdin when it is a socket, as node's pipes are.)
      const file = join(tmpdir(), `felix-e2e-hep-${topo.prefix}.nft`);
      writeFileSync(
        file,
        `add table ip calico\ndelete table ip calico\n${renderNftTable("ip", s.iptables.ipv4, s.ipsets)}`,
      );
      try {
        load(n1.netns, "nft", ["-f", file], "");
      } finally {
        rmSync(file, { force: true });
      }
      return;
    }
    const ipt = iptablesCmd();
    load(n1.netns, "ipset", ["restore", "-exist"], ipsetsText(s, 4));
    load(n1.netns, `${ipt}-restore`, [], iptablesText(s, 4));
  }

  const node = eq("role", "node");
  const from2 = [`${"172.31.250.2"}/32`];
  const normal = globalPolicy("normal", node, {
    inbound: [{ action: "allow", protocol: "tcp", srcNets: from2, dstPorts: [{ first: 80, last: 81 }] }],
  });
  const preDNAT = globalPolicy("pre-dnat", node, {
    inbound: [{ action: "deny", protocol: "tcp", dstPorts: [{ first: 81, last: 81 }] }],
    preDNAT: true,
    applyOnForward: true,
  });
  const untracked = globalPolicy("untracked", node, {
    inbound: [{ action: "allow", protocol: "udp", srcNets: from2, dstPorts: [{ first: 80, last: 80 }] }],
    // Untracked both ways, or the replies would meet a half-built conntrack entry. Only udp: untracking
    // the tcp replies too would leave the tracked tcp connections INVALID (Felix's docs warn of it).
    outbound: [{ action: "allow", protocol: "udp", dstNets: from2 }],
    doNotTrack: true,
    applyOnForward: true,
  });
  const reach = async () => ({
    "tcp/22": await topo.probe(n2, n1.underlayIp, 22, "tcp"),
    "tcp/80": await topo.probe(n2, n1.underlayIp, 80, "tcp"),
    "tcp/81": await topo.probe(n2, n1.underlayIp, 81, "tcp"),
    "udp/80": await topo.probe(n2, n1.underlayIp, 80, "udp"),
    "udp/81": await topo.probe(n2, n1.underlayIp, 81, "udp"),
  });

  test("normal policy alone: tcp/80 and tcp/81 in, udp dropped, SSH failsafe", async () => {
    program([normal]);
    assert.deepEqual(await reach(), {
      "tcp/22": true,
      "tcp/80": true,
      "tcp/81": true,
      "udp/80": false,
      "udp/81": false,
    });
  });

  test("a preDNAT deny of tcp/81 wins over the normal allow; a doNotTrack allow opens udp/80, untracked", async () => {
    program([normal, preDNAT, untracked]);
    const notrack = () =>
      ruleCounter(n1.netns, "raw", "cali-fh-eth0", { iptables: /NOTRACK|CT --notrack/, nftables: /notrack/ });
    const notracked = await notrack();
    assert.deepEqual(await reach(), {
      "tcp/22": true,
      "tcp/80": true,
      "tcp/81": false,
      "udp/80": true,
      "udp/81": false,
    });
    // The raw chain NOTRACKed the udp/80 datagrams (its NOTRACK rule counted them), so no conntrack entry exists.
    assert.ok((await notrack()) > notracked, "the NOTRACK rule counted the udp/80 datagrams");
  });
});
