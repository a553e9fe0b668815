// End to end, IPv6 VXLAN with the real kernel: two dual-stack nodes on one
// underlay, an IPv6 pool with vxlanMode Always. Pods talk over IPv6 through
// vxlan-v6.calico: the underlay carries UDP 4789 between the nodes' IPv6
// addresses and never a pod's IPv6 address; the agent created the device,
// its neighbour and FDB entries and the routes; the IPv6 VXLAN guard admits
// only the other node.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { exec, requirementsMissing, Topology, type TopoNode, type TopoPod } from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { eventually, felixOnce, ManifestDir, podManifest } from "./cluster.js";
import { ruleCounter } from "./dataplane-mode.js";

const skip =
  requirementsMissing() ??
  (["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].some((p) => existsSync(p)) ? undefined : "needs tcpdump");

describe("IPv6 VXLAN end to end", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let nodes: TopoNode[];
  let pods: TopoPod[];

  before(async () => {
    topo = await Topology.create({ stem: "fxv" });
    nodes = [
      await topo.addNode("node1", {
        underlayIp: "172.31.250.1",
        underlayIpv6: "fd00:fe11::1",
        podCIDR: "10.65.1.0/24",
        podCIDRv6: "fd00:65:1::/122",
      }),
      await topo.addNode("node2", {
        underlayIp: "172.31.250.2",
        underlayIpv6: "fd00:fe11::2",
        podCIDR: "10.65.2.0/24",
        podCIDRv6: "fd00:65:2::/122",
      }),
    ];
    pods = [
      await topo.addPod(nodes[0], { namespace: "x", name: "p1", ip: "10.65.1.2", ipv6: "fd00:65:1::2" }),
      await topo.addPod(nodes[1], { namespace: "x", name: "p2", ip: "10.65.2.2", ipv6: "fd00:65:2::2" }),
    ];
    dir = new ManifestDir();
    const docs: object[] = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } }];
    for (const [i, n] of nodes.entries()) {
      docs.push({
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name: n.name,
          annotations: {
            "projectcalico.org/IPv4Address": `${n.underlayIp}/24`,
            "projectcalico.org/IPv6Address": `${n.underlayIpv6}/64`,
            "projectcalico.org/IPv6VXLANTunnelAddr": `fd00:65:${i + 1}::`,
          },
        },
        spec: { podCIDRs: [n.podCIDR, n.podCIDRv6] },
        status: {
          addresses: [
            { type: "InternalIP", address: n.underlayIp },
            { type: "InternalIP", address: n.underlayIpv6 },
          ],
        },
      });
    }
    for (const p of pods) {
      const m = podManifest(p) as { status: Record<string, unknown> };
      m.status = { ...m.status, podIPs: [{ ip: p.ip }, { ip: p.ipv6 }] };
      docs.push(m);
    }
    dir.write("cluster.yaml", docs);
    dir.write("pool.yaml", [
      {
        apiVersion: "projectcalico.org/v3",
        kind: "IPPool",
        metadata: { name: "default-ipv6-ippool" },
        spec: { cidr: "fd00:65::/32", blockSize: 122, vxlanMode: "Always", natOutgoing: true },
      },
    ]);
  });

  after(async () => {
    await topo?.destroy();
    dir?.destroy();
  });

  test("pods talk over IPv6 through vxlan-v6.calico; the underlay carries only UDP 4789 between node addresses", async () => {
    const runs = await Promise.all(nodes.map((n) => felixOnce(topo, dir.path, [n]).then((r) => r[0])));
    for (const r of runs) assert.equal(r.code, 0, r.output);

    const link = await exec(nodes[0].netns, "ip", "-d", "link", "show", "vxlan-v6.calico");
    assert.match(link, /vxlan id 4096 local fd00:fe11::1 dev eth0 .*dstport 4789 nolearning/);
    assert.match(link, /mtu 1430 /, "host MTU 1500 − 70");
    assert.match(await exec(nodes[0].netns, "ip", "-6", "addr", "show", "dev", "vxlan-v6.calico"), /fd00:65:1::\/128/);
    assert.match(
      await exec(nodes[0].netns, "ip", "-6", "route", "show", "fd00:65:2::/122"),
      /via fd00:65:2:: dev vxlan-v6\.calico proto 80 .*onlink/,
    );
    assert.match(
      await exec(nodes[0].netns, "ip", "-6", "neigh", "show", "dev", "vxlan-v6.calico"),
      /fd00:65:2:: lladdr [0-9a-f:]+ PERMANENT/,
    );
    assert.match(
      await exec(nodes[0].netns, "bridge", "fdb", "show", "dev", "vxlan-v6.calico"),
      /dst fd00:fe11::2 self permanent/,
    );

    const cap = topo.spawn(topo.switchNs, "tcpdump", ["-i", "any", "-nn", "-l", "ip6"]);
    let ok = false;
    try {
      await eventually(
        async () => cap.output(),
        (o) => o.includes("listening on"),
        5000,
        20,
      );
      const r = await eventually(
        () => topo.probeDetail(pods[0], pods[1].ipv6!, 80, "tcp"),
        (x) => x.ok,
        8000,
        200,
      );
      ok = r.value.ok;
      assert.equal((await topo.probeDetail(pods[1], pods[0].ipv6!, 81, "udp")).ok, true, "p2 → p1 over UDP/IPv6");
      await new Promise((res) => setTimeout(res, 200));
    } finally {
      await cap.kill("SIGINT");
    }
    assert.ok(ok, "p1 → p2 over TCP/IPv6");
    const lines = cap
      .output()
      .split("\n")
      .filter((l) => l.includes(" IP6 "));
    const vxlan = lines.filter((l) => / IP6 fd00:fe11::[12]\.\d+ > fd00:fe11::[12]\.4789: VXLAN/.test(l));
    assert.ok(vxlan.length > 0, `VXLAN between the nodes' IPv6 addresses:\n${lines.slice(0, 20).join("\n")}`);
    const bare = lines.filter(
      (l) => /^\S+ \S+ +\S+ IP6 fd00:65:/.test(l) || / IP6 fd00:65:\S+ > /.test(l.split("|")[0]),
    );
    assert.deepEqual(bare, [], "no pod IPv6 address as an outer address on the underlay");
  });

  test("the IPv6 VXLAN guard drops VXLAN to this node from a host that is no Calico node", async () => {
    const drops = () =>
      ruleCounter(
        nodes[1].netns,
        "filter",
        "cali-INPUT",
        { iptables: /Drop IPv6 VXLAN packets from non-allowed hosts/, nftables: /udp dport 4789 .*drop/ },
        6,
      );
    const before = await drops();
    // From the switch: an underlay host that is no Calico node (not in node2's cali60all-vxlan-net).
    await exec(
      topo.switchNs,
      "python3",
      "-c",
      "import socket\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\nfor _ in range(3): s.sendto(b'x'*16,('fd00:fe11::2',4789))",
    );
    await new Promise((res) => setTimeout(res, 300));
    assert.equal((await drops()) - before, 3);
  });
});
