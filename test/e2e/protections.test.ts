// End to end, Felix's protections with the real kernel (issue 13):
//   - a pod cannot tunnel a spoofed packet to a pod on another node in VXLAN
//     (pool with natOutgoing, as calico-node's default pool has it): its
//     egress chain drops VXLAN-port UDP; the same packet sent by a Calico host
//     does arrive, so the probe would see a delivery;
//   - an admin's FORWARD rule sees traffic Calico policy accepted (the accept
//     rule is appended to FORWARD, as Felix does), in insert and append mode.
// Verdicts come from the kernel: packet counters in the victim pod's own
// namespace, rule counters, real connections.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { derivedVtepMac } from "../../calc-graph/network/vtep.js";
import {
  exec,
  ipBatch,
  iptablesCmd,
  requirementsMissing,
  Topology,
  type TopoNode,
  type TopoPod,
} from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { eventually, felixDaemon, felixOnce, ManifestDir, nodeManifest, podManifest } from "./cluster.js";
import { ruleCounter, TEST_DATAPLANE } from "./dataplane-mode.js";

const skip = requirementsMissing();
const VNI = 4096;

/**
 * A VXLAN datagram's payload: VXLAN header, Ethernet header to the remote
 * VTEP's MAC, an IPv4/UDP packet from `src` to `dst`:`dport` saying "spoofed".
 */
function vxlanPayloadScript(dstMac: string, src: string, dst: string, dport: number, to: string): string {
  return `
import socket, struct
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
body = b'spoofed'
udp = struct.pack('!HHHH', 40000, ${dport}, 8 + len(body), 0) + body
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 socket.inet_aton('${src}'), socket.inet_aton('${dst}'))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
eth = bytes.fromhex('${dstMac.replace(/:/g, "")}') + bytes.fromhex('020000000001') + b'\\x08\\x00'
vx = struct.pack('!II', 0x08000000, ${VNI} << 8)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    s.sendto(vx + eth + ip + udp, ('${to}', 4789))
`;
}

/** Packets counted by the test's own rule in a pod's namespace (legacy iptables, in either mode). */
async function counter(ns: string, table: string, chain: string, pattern: RegExp): Promise<number> {
  const out = await exec(ns, iptablesCmd(), "-t", table, "-L", chain, "-v", "-x", "-n");
  const line = out.split("\n").find((l) => pattern.test(l));
  assert.ok(line, `no rule matching ${pattern} in ${table} ${chain}:\n${out}`);
  return Number(line.trim().split(/\s+/)[0]);
}

describe("Felix's protections end to end", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let nodes: TopoNode[];
  let mallory: TopoPod;
  let trusted: TopoPod;
  let victim: TopoPod;

  function writeCluster(encap: "vxlan" | "ipip" = "vxlan"): void {
    const docs: object[] = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } }];
    for (const [i, n] of nodes.entries()) {
      docs.push(
        nodeManifest(n, {
          "projectcalico.org/IPv4Address": `${n.underlayIp}/${n.underlayPrefixLength}`,
          "projectcalico.org/IPv4VXLANTunnelAddr": `10.65.${i + 1}.0`,
          "projectcalico.org/IPv4IPIPTunnelAddr": `10.65.${i + 1}.1`,
        }),
      );
    }
    for (const p of [mallory, trusted, victim]) docs.push(podManifest(p));
    // The victim admits only the trusted pod.
    docs.push({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "victim-from-trusted", namespace: "x" },
      spec: {
        podSelector: { matchLabels: { pod: "victim" } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: "trusted" } } }] }],
      },
    });
    dir.write("cluster.yaml", docs);
    dir.write("pool.yaml", [
      {
        apiVersion: "projectcalico.org/v3",
        kind: "IPPool",
        metadata: { name: "default-ipv4-ippool" },
        spec: {
          cidr: "10.65.0.0/16",
          blockSize: 24,
          ...(encap === "vxlan" ? { vxlanMode: "Always" } : { ipipMode: "Always" }),
          natOutgoing: true,
        },
      },
    ]);
  }

  async function programAll(env: NodeJS.ProcessEnv = {}): Promise<string[]> {
    const runs = await Promise.all(nodes.map((n) => felixOnce(topo, dir.path, [n], env).then((r) => r[0])));
    for (const r of runs) assert.equal(r.code, 0, r.output);
    return runs.map((r) => r.output);
  }

  before(async () => {
    topo = await Topology.create({ stem: "fxp" });
    nodes = [
      await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24", servers: { tcp: [80] } }),
      await topo.addNode("node2", { underlayIp: "172.31.250.2", podCIDR: "10.65.2.0/24" }),
    ];
    mallory = await topo.addPod(nodes[0], { namespace: "x", name: "mallory", ip: "10.65.1.2" });
    trusted = await topo.addPod(nodes[0], { namespace: "x", name: "trusted", ip: "10.65.1.3" });
    victim = await topo.addPod(nodes[1], { namespace: "x", name: "victim", ip: "10.65.2.2" });
    dir = new ManifestDir();
    writeCluster();
    // Counts what reaches the victim from the trusted pod's address, in the victim's own namespace.
    await exec(
      victim.netns,
      iptablesCmd(),
      "-t",
      "raw",
      "-A",
      "PREROUTING",
      "-s",
      trusted.ip,
      "-p",
      "udp",
      "--dport",
      "81",
    );
  });

  after(async () => {
    await topo?.destroy();
    dir?.destroy();
  });

  const arrived = () =>
    counter(victim.netns, "raw", "PREROUTING", new RegExp(`${trusted.ip.replace(/\./g, "\\.")} .*dpt:81`));
  const spoof = (from: TopoPod | TopoNode) =>
    exec(
      from.netns,
      "python3",
      "-c",
      vxlanPayloadScript(derivedVtepMac("node2"), trusted.ip, victim.ip, 81, nodes[1].underlayIp),
    );

  test("VXLAN (natOutgoing pool): a pod's hand-made VXLAN packet carrying a spoofed inner packet does not reach a pod on another node; the same packet from a Calico host does", async () => {
    await programAll();
    // The trusted pod really reaches the victim (the policy admits it).
    assert.ok(await topo.probe(trusted, victim, 81, "udp"), "trusted → victim works");
    const base = await arrived();

    // Positive control: node1's host is a Calico host (in node2's cali40all-vxlan-net).
    await spoof(nodes[0]);
    const afterHost = await arrived();
    assert.ok(afterHost > base, "a VXLAN packet from a Calico host is decapsulated and delivered (the probe sees it)");

    const dropRule = {
      iptables: /DROP VXLAN encapped packets originating in workloads/,
      nftables: /udp dport 4789 counter drop/,
    };
    const fwChain = `cali-fw-${mallory.hostIface}`;
    const dropsBefore = await ruleCounter(nodes[0].netns, "filter", fwChain, dropRule);
    await spoof(mallory);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await arrived(), afterHost, "the spoofed inner packet from a pod never arrives");
    assert.equal(
      (await ruleCounter(nodes[0].netns, "filter", fwChain, dropRule)) - dropsBefore,
      5,
      "the pod's egress chain dropped all five",
    );
  });

  test("VXLAN with FELIX_ALLOWVXLANPACKETSFROMWORKLOADS=true: the packet leaves the pod but still does not arrive (untracked, so not masqueraded; the other node's VXLAN guard refuses a pod source)", async () => {
    await programAll({ FELIX_ALLOWVXLANPACKETSFROMWORKLOADS: "true" });
    const base = await arrived();
    await spoof(mallory);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await arrived(), base);
    // No programAll() back to the defaults here: every test after this one programs the nodes first.
  });

  // iptables mode only (not registered in the nftables mode, where it does not apply: nothing of ours is in
  // iptables' FORWARD, our forward chain is a base chain of table ip calico, so there is no order to check).
  for (const mode of TEST_DATAPLANE === "iptables" ? (["insert", "append"] as const) : []) {
    test(`FORWARD order (FELIX_CHAININSERTMODE=${mode}): an admin's REJECT in FORWARD sees traffic Calico policy accepted`, async () => {
      const ipt = iptablesCmd();
      const ns = nodes[0].netns;
      await exec(ns, ipt, "-A", "FORWARD", "-p", "tcp", "--dport", "81", "-j", "REJECT");
      try {
        await programAll({ FELIX_CHAININSERTMODE: mode });
        const fwd = (await exec(ns, `${ipt}-save`, "-t", "filter"))
          .split("\n")
          .filter((l) => l.startsWith("-A FORWARD"));
        const admin = fwd.findIndex((l) => l.includes("REJECT"));
        const jump = fwd.findIndex((l) => l.endsWith("-j cali-FORWARD"));
        const accept = fwd.findIndex((l) => l.includes("Policy explicitly accepted"));
        assert.ok(admin < accept, `our accept rule comes after the admin's rule:\n${fwd.join("\n")}`);
        assert.ok(mode === "insert" ? jump < admin : jump > admin, `cali-FORWARD jump placed by ${mode} mode`);
        // Same node, no policy on trusted: Calico accepts both, the admin rejects tcp/81.
        assert.equal(await topo.probe(mallory, trusted, 80, "tcp"), true, "tcp/80 still flows");
        assert.equal(await topo.probe(mallory, trusted, 81, "tcp"), false, "the admin's REJECT applies");
      } finally {
        await exec(ns, ipt, "-D", "FORWARD", "-p", "tcp", "--dport", "81", "-j", "REJECT");
      }
    });
  }

  test("kube-proxy in IPVS mode (kube-ipvs0 present), DefaultEndpointToHostAction DROP: a pod's packet to a service address takes the forward-check path (endpoint-marked, not dropped as workload-to-host); to the host's own addresses, including one only the kernel knows, the DROP applies", async () => {
    const ns = nodes[0].netns;
    // kube-proxy binds service addresses to kube-ipvs0; a node-local DNS cache has an address of its own.
    await ipBatch(ns, [
      "link add kube-ipvs0 type bridge",
      "addr add 10.96.0.10/32 dev kube-ipvs0",
      "link set kube-ipvs0 up",
      "link add nodelocaldns type bridge",
      "addr add 169.254.20.10/32 dev nodelocaldns",
      "link set nodelocaldns up",
    ]);
    try {
      const [out1] = await programAll({ FELIX_DEFAULTENDPOINTTOHOSTACTION: "DROP" });
      assert.match(out1, /"kubeIPVSSupport":true/, "kube-ipvs0 detected at start-up");
      const marked = () =>
        ruleCounter(ns, "filter", `cali-sm-${mallory.hostIface}`, { iptables: /-j MARK/, nftables: /meta mark set/ });
      const before = await marked();
      // IPVS would take it from here (LOCAL_IN) and police it in OUTPUT; this kernel has no IPVS, so the
      // host's own server answers: what matters is that INPUT let it through as forwarded traffic.
      assert.equal(await topo.probe(mallory, "10.96.0.10", 80, "tcp"), true, "to a service address: forwarded path");
      assert.ok((await marked()) > before, "the pod's endpoint mark was set");
      assert.equal(await topo.probe(mallory, nodes[0].underlayIp, 80, "tcp"), false, "to the node's address: DROP");
      assert.equal(await topo.probe(mallory, "169.254.20.10", 80, "tcp"), false, "to a kernel-only host address: DROP");
    } finally {
      await ipBatch(ns, ["link del kube-ipvs0", "link del nodelocaldns"]);
    }
    const [out2] = await programAll({ FELIX_DEFAULTENDPOINTTOHOSTACTION: "DROP" });
    assert.match(out2, /"kubeIPVSSupport":false/);
    assert.equal(await topo.probe(mallory, nodes[0].underlayIp, 80, "tcp"), false, "still DROP without IPVS support");
    // (The next test programs the nodes first.)
  });

  test("IPIP in use: cali-INPUT accepts IP-in-IP only from Calico hosts and drops it from anyone else; a pod's IP-in-IP is dropped by its egress chain (the kernel has no ipip module here: the packets are counted, not decapsulated)", async () => {
    writeCluster("ipip");
    try {
      await programAll();
      const ns = nodes[0].netns;
      const rule = (re: { iptables: RegExp; nftables: RegExp }) => ruleCounter(ns, "filter", "cali-INPUT", re);
      const fromCalico = {
        iptables: /Allow IPIP packets from Calico hosts/,
        nftables: /ipencap ip saddr @\S+ .*accept/,
      };
      const fromOthers = {
        iptables: /DROP IPIP packets from non-Calico hosts/,
        nftables: /l4proto ipencap counter drop/,
      };
      const fw = () =>
        ruleCounter(ns, "filter", `cali-fw-${mallory.hostIface}`, {
          iptables: /DROP IPinIP encapped packets/,
          nftables: /l4proto ipencap counter drop/,
        });
      const [a0, d0, w0] = [await rule(fromCalico), await rule(fromOthers), await fw()];
      // An IP-in-IP packet: the kernel adds the outer header (protocol 4); the payload is an inner IPv4 header.
      const send = (where: string, to: string) =>
        exec(
          where,
          "python3",
          "-c",
          `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_RAW,4)\ninner=bytes.fromhex('4500001c000100004011000a0a4101030a410202')+bytes(8)\nfor _ in range(2): s.sendto(inner,('${to}',0))`,
        );
      await send(nodes[1].netns, nodes[0].underlayIp); // a Calico host
      await send(topo.switchNs, nodes[0].underlayIp); // the underlay gateway: no Calico host
      await send(mallory.netns, nodes[1].underlayIp); // a pod
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await rule(fromCalico)) - a0, 2, "from node2: allowed");
      assert.equal((await rule(fromOthers)) - d0, 2, "from the switch: dropped");
      assert.equal((await fw()) - w0, 2, "from the pod: dropped by its egress chain");
    } finally {
      writeCluster(); // programmed by the next test's daemon (node1; node2 takes no part in it)
    }
  });

  test("the daemon exits 129 (Felix's restart code) when kube-proxy's kube-ipvs0 appears, to restart with IPVS support", async () => {
    const ns = nodes[0].netns;
    const daemon = felixDaemon(topo, dir.path, nodes[0]);
    try {
      await eventually(
        async () => daemon.output(),
        (o) => o.includes("dataplane programmed") || o.includes("already in sync"),
        20_000,
      );
      await ipBatch(ns, ["link add kube-ipvs0 type bridge"]);
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        daemon.exited,
        new Promise((r) => {
          timer = setTimeout(() => r("still running"), 15_000);
        }),
      ]);
      clearTimeout(timer); // else it keeps the file's process up for the rest of the 15 s
      assert.equal(code, 129, daemon.output().slice(-2000));
      assert.match(daemon.output(), /kube-proxy's IPVS mode changed/);
    } finally {
      await daemon.kill();
      await ipBatch(ns, ["link del kube-ipvs0"]).catch(() => {});
    }
  });
});
