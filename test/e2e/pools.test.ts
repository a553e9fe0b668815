// End to end, IP pools and routing modes with the real kernel: three nodes,
// two on one underlay subnet and one on another (routed by the switch
// namespace), a pod on each, an 'external' host behind the switch. The
// verdicts come from real connections and from tcpdump on the switch's
// bridges (what the underlay carries).

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  exec,
  requirementsMissing,
  run,
  type TopoExternal,
  Topology,
  type TopoNode,
  type TopoPod,
} from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import {
  eventually,
  FELIX_DUMP,
  felixDaemon,
  felixOnce,
  ManifestDir,
  nodeManifest,
  podManifest,
  TCP80,
  UDP81,
} from "./cluster.js";
import { TEST_DATAPLANE } from "./dataplane-mode.js";

const skip = requirementsMissing() ?? (hasTcpdump() ? undefined : "pools e2e needs tcpdump");

function hasTcpdump(): boolean {
  return ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].some((p) => existsSync(p));
}

type Mode = "Always" | "CrossSubnet" | "Never";

/**
 * Packets the underlay carried while `f` ran: tcpdump on every interface of the
 * switch namespace (bridge ports see the frames switched between nodes; the
 * bridge device itself would not), as `… IP <outer src> > <outer dst>: …` lines.
 */
async function capture(topo: Topology, f: () => Promise<void>): Promise<string[]> {
  const proc = topo.spawn(topo.switchNs, "tcpdump", ["-i", "any", "-nn", "-l", "ip"]);
  try {
    await eventually(
      async () => proc.output(),
      (o) => o.includes("listening on"),
      5000,
      20,
    );
    await f();
    await new Promise((r) => setTimeout(r, 200)); // the last packets' lines
  } finally {
    await proc.kill("SIGINT");
  }
  // tcpdump prints a VXLAN packet's inner packet on a line of its own: join them.
  const lines: string[] = [];
  for (const l of proc.output().split("\n")) {
    if (l.startsWith("IP ") && lines.length > 0) lines[lines.length - 1] += ` | ${l}`;
    else if (l.includes(" IP ")) lines.push(l);
  }
  return lines;
}

const isPod = (addr: string) => addr.startsWith("10.65.");
/** Outer source and destination address of a tcpdump line ("… IP 1.2.3.4.5 > 6.7.8.9.10: …"). */
function outer(line: string): { src: string; dst: string; vxlan: boolean } {
  const m = / IP (\d+\.\d+\.\d+\.\d+)(?:\.\d+)? > (\d+\.\d+\.\d+\.\d+)(?:\.(\d+))?:/.exec(line);
  if (!m) return { src: "", dst: "", vxlan: false };
  return { src: m[1], dst: m[2], vxlan: m[3] === "4789" && line.includes("VXLAN") };
}

describe("IP pools and routing modes end to end", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let nodes: TopoNode[];
  let pods: TopoPod[];
  let ext: TopoExternal;
  let mtuDir: string;
  const env = (n: TopoNode) => ({ FELIX_MTUFILEPATH: join(mtuDir, n.name, "mtu") });

  function writeCluster(mode: Mode, natOutgoing = false): void {
    const docs: object[] = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } }];
    for (const [i, n] of nodes.entries()) {
      docs.push(
        nodeManifest(n, {
          "projectcalico.org/IPv4Address": `${n.underlayIp}/${n.underlayPrefixLength}`,
          "projectcalico.org/IPv4VXLANTunnelAddr": `10.65.${i + 1}.0`,
        }),
      );
    }
    for (const p of pods) docs.push(podManifest(p));
    dir.write("cluster.yaml", docs);
    dir.write("pool.yaml", [
      {
        apiVersion: "projectcalico.org/v3",
        kind: "IPPool",
        metadata: { name: "default-ipv4-ippool" },
        spec: {
          cidr: "10.65.0.0/16",
          blockSize: 24,
          ipipMode: "Never",
          vxlanMode: mode,
          natOutgoing,
          nodeSelector: "all()",
        },
      },
    ]);
  }

  async function programAll(): Promise<string[]> {
    const runs = await Promise.all(nodes.map((n) => felixOnce(topo, dir.path, [n], env(n)).then((r) => r[0])));
    for (const r of runs) assert.equal(r.code, 0, r.output);
    return runs.map((r) => r.output);
  }

  async function expectConnected(between: TopoPod[], what: string) {
    const m = await topo.waitForMatrix(between, [TCP80, UDP81], () => true, { timeoutMs: 600, withinMs: 5000 });
    assert.ok(m.compare(() => true).ok, `${what}:\n${m.text}`);
  }

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    nodes = [
      await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" }),
      await topo.addNode("node2", { underlayIp: "172.31.250.2", podCIDR: "10.65.2.0/24" }),
      await topo.addNode("node3", { underlayIp: "172.31.251.3", podCIDR: "10.65.3.0/24", secondSubnet: true }),
    ];
    pods = [];
    for (const [i, n] of nodes.entries()) {
      pods.push(await topo.addPod(n, { namespace: "x", name: `p${i + 1}`, ip: `10.65.${i + 1}.2` }));
    }
    ext = await topo.addExternal("ext");
    dir = new ManifestDir();
    mtuDir = mkdtempSync(join(tmpdir(), "felix-mtu-"));
  });

  after(async () => {
    await topo?.destroy();
    dir?.destroy();
    if (mtuDir) rmSync(mtuDir, { recursive: true, force: true });
  });

  test("no encapsulation: pods on the same subnet talk directly; pod addresses on the underlay, no UDP 4789", async () => {
    writeCluster("Never");
    await programAll();
    const [p1, p2] = pods;
    const lines = await capture(topo, () => expectConnected([p1, p2], "node1 ↔ node2 without encapsulation"));
    assert.ok(
      lines.some((l) => isPod(outer(l).src) && isPod(outer(l).dst)),
      "pod traffic is on the underlay as is",
    );
    assert.ok(!lines.some((l) => outer(l).vxlan), "no VXLAN");
    assert.match(
      await exec(nodes[0].netns, "ip", "route", "show", "10.65.2.0/24"),
      /via 172\.31\.250\.2 dev eth0 proto 80/,
    );
    assert.doesNotMatch(await exec(nodes[0].netns, "ip", "link"), /vxlan\.calico/);
    assert.equal(readFileSync(env(nodes[0]).FELIX_MTUFILEPATH, "utf8"), "1500", "pod MTU: the host MTU");
  });

  test("VXLAN (held-out check): the three-node matrix is fully connected and the underlay carries only UDP 4789 between nodes", async () => {
    writeCluster("Always");
    await programAll();
    const lines = await capture(topo, () => expectConnected(pods, "VXLAN, three nodes"));
    const nodeIps = new Set(nodes.map((n) => n.underlayIp));
    const podTraffic = lines.filter((l) => l.includes("10.65."));
    assert.ok(podTraffic.length > 0, "pod traffic was captured");
    const bad = podTraffic.filter((l) => {
      const o = outer(l);
      return !(o.vxlan && nodeIps.has(o.src) && nodeIps.has(o.dst));
    });
    assert.deepEqual(bad, [], "every packet carrying pod addresses is VXLAN (UDP 4789) between node addresses");
    const pairs = new Set(podTraffic.map((l) => `${outer(l).src}>${outer(l).dst}`));
    for (const a of nodeIps)
      for (const b of nodeIps) if (a !== b) assert.ok(pairs.has(`${a}>${b}`), `VXLAN ${a} → ${b}`);
    const link = JSON.parse(await exec(nodes[0].netns, "ip", "-j", "-d", "link", "show", "vxlan.calico"))[0];
    assert.deepEqual(
      [link.linkinfo.info_data.id, link.linkinfo.info_data.port, link.linkinfo.info_data.local, link.mtu],
      [4096, 4789, "172.31.250.1", 1450],
    );
    assert.equal(readFileSync(env(nodes[0]).FELIX_MTUFILEPATH, "utf8"), "1450");
  });

  test("felix-dump routes matches ip route, ip neigh and bridge fdb in the node namespace", async () => {
    const n1 = nodes[0];
    const dump = topo.spawn(n1, process.execPath, [
      FELIX_DUMP,
      "routes",
      "--resources",
      dir.path,
      "--node-name",
      "node1",
    ]);
    assert.equal(await dump.exited, 0, dump.output());
    const want = dump
      .output()
      .split("\n")
      .filter((l) => l !== "" && !/^\d{4}-\d\d-\d\dT.* (WARN|INFO)/.test(l));
    const routes = want.filter((l) => !l.startsWith("#") && !/lladdr|self permanent/.test(l));
    const kernelRoutes = (await exec(n1.netns, "ip", "route", "show", "proto", "80"))
      .split("\n")
      .filter(Boolean)
      .map((l) => l.trim());
    // `ip route show proto 80` leaves out "proto 80"; put it back where `ip route` prints it.
    const withProto = kernelRoutes.map((l) =>
      l.replace(/^(blackhole \S+|.* dev \S+)(.*?)( scope link| onlink)?$/, "$1 proto 80$2$3").replace(/\s+/g, " "),
    );
    assert.deepEqual(withProto.sort(), routes.sort());
    const neigh = (await exec(n1.netns, "ip", "neigh", "show", "dev", "vxlan.calico", "nud", "permanent"))
      .split("\n")
      .filter(Boolean)
      .map((l) => l.trim().replace(" lladdr", " dev vxlan.calico lladdr"));
    assert.deepEqual(neigh.sort(), want.filter((l) => l.includes("lladdr")).sort());
    const fdb = (await exec(n1.netns, "bridge", "fdb", "show", "dev", "vxlan.calico"))
      .split("\n")
      .filter((l) => l.includes(" dst "))
      .map((l) => l.trim().replace(/^(\S+) dst/, "$1 dev vxlan.calico dst"));
    assert.deepEqual(fdb.sort(), want.filter((l) => l.includes("self permanent")).sort());

    // diff --live sees the tunnel device and its entries too.
    const diff = () =>
      topo.spawn(n1, process.execPath, [FELIX_DUMP, "diff", "--live", "--resources", dir.path, "--node-name", "node1"]);
    const ok = diff();
    assert.equal(await ok.exited, 0, ok.output());
    await exec(n1.netns, "ip", "neigh", "del", "10.65.2.0", "dev", "vxlan.calico");
    await exec(n1.netns, "ip", "link", "set", "vxlan.calico", "mtu", "1300");
    const bad = diff();
    assert.equal(await bad.exited, 1, bad.output());
    assert.match(bad.output(), /neighbour: 10\.65\.2\.0 dev vxlan\.calico lladdr \S+ PERMANENT: missing/);
    await programAll();
    const again = diff();
    assert.equal(await again.exited, 0, again.output());
    assert.match(await exec(n1.netns, "ip", "link", "show", "vxlan.calico"), /mtu 1450/, "auto MTU restored");
  });

  test("VXLAN CrossSubnet: same-subnet nodes directly, the other subnet through VXLAN", async () => {
    writeCluster("CrossSubnet");
    await programAll();
    const lines = await capture(topo, () => expectConnected(pods, "CrossSubnet, three nodes"));
    const vx = lines.filter((l) => outer(l).vxlan).map((l) => `${outer(l).src}>${outer(l).dst}`);
    assert.ok(vx.includes("172.31.250.1>172.31.251.3") && vx.includes("172.31.251.3>172.31.250.2"), "node3 via VXLAN");
    assert.ok(
      !vx.some((p) => p === "172.31.250.1>172.31.250.2" || p === "172.31.250.2>172.31.250.1"),
      "node1 ↔ node2 not encapsulated",
    );
    assert.ok(
      lines.some((l) => outer(l).src === "10.65.1.2" && outer(l).dst === "10.65.2.2"),
      "node1 → node2 pod traffic as is",
    );
  });

  test("natOutgoing: a pod reaching an external address is seen with its node's address; without it, no answer", async () => {
    writeCluster("Always", false);
    await programAll();
    const off = await topo.probeDetail(pods[0], ext.ip, 80, "tcp", 800);
    assert.equal(off.ok, false, `without natOutgoing the external host cannot answer a pod address: ${off.reply}`);
    writeCluster("Always", true);
    await programAll();
    for (const [i, p] of pods.entries()) {
      const r = await topo.waitForProbe(p, ext.ip, 80, "tcp", { withinMs: 3000 });
      assert.equal(r.reply, `ext/ext ${nodes[i].underlayIp}`, `${p.key} masqueraded to its node's address`);
    }
    const u = await topo.probeDetail(pods[2], ext.ip, 80, "udp", 1000);
    assert.equal(u.reply, "ext/ext 172.31.251.3");
    await expectConnected(pods, "pod to pod is not masqueraded");
  });

  test("VXLAN only from known VTEPs: a datagram to port 4789 from elsewhere is dropped at cali-INPUT", async () => {
    const n1 = nodes[0];
    const send =
      "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x' * 16, ('172.31.250.1', 4789))";
    if (TEST_DATAPLANE === "nftables") {
      // Our nft rules keep no counters: a foreign table counts datagrams to 4789 before our
      // input chain (priority -10) and after it (10). The outsider's datagram is seen before
      // and not after; node2's (a known VTEP), sent after it, is seen after.
      const other = "udp dport 4789 ip saddr != 172.31.250.2 counter";
      await run("ip", ["netns", "exec", n1.netns, "nft", "-f", "-"], {
        input: [
          "table ip vxlan-probe {",
          `  chain before { type filter hook input priority -10; ${other}; }`,
          `  chain after { type filter hook input priority 10; ${other}; udp dport 4789 ip saddr 172.31.250.2 counter; }`,
          "}",
        ].join("\n"),
      });
      try {
        const counters = async () =>
          [...(await exec(n1.netns, "nft", "list", "table", "ip", "vxlan-probe")).matchAll(/packets (\d+)/g)].map((m) =>
            Number(m[1]),
          );
        await exec(ext.netns, "python3", "-c", send);
        await exec(nodes[1].netns, "python3", "-c", send);
        // [before: others, after: others, after: node2]
        const { value } = await eventually(counters, (c) => c[0] > 0 && c[2] > 0, 3000, 50);
        assert.equal(value[1], 0, `the outsider's datagram passed our input chain: ${value}`);
      } finally {
        await exec(n1.netns, "nft", "delete", "table", "ip", "vxlan-probe");
      }
      const set = await exec(n1.netns, "nft", "list", "set", "ip", "calico", "cali40all-vxlan-net");
      assert.match(set, /172\.31\.250\.2/);
      assert.match(set, /172\.31\.251\.3/);
      return;
    }
    const drops = async () => {
      const out = await exec(n1.netns, "iptables-legacy", "-t", "filter", "-L", "cali-INPUT", "-v", "-n", "-x");
      const line = out.split("\n").find((l) => l.includes("Drop IPv4 VXLAN packets from non-allowed hosts"));
      assert.ok(line, out);
      return Number(line.trim().split(/\s+/)[0]);
    };
    const before = await drops();
    await exec(ext.netns, "python3", "-c", send);
    await eventually(drops, (n) => n > before, 3000, 50);
    const ipsetList = await exec(n1.netns, "ipset", "list", "cali40all-vxlan-net");
    assert.match(ipsetList, /172\.31\.250\.2/);
    assert.match(ipsetList, /172\.31\.251\.3/);
  });

  test("a borrowed IPAM address: a pod on node2 with an address of node1's block is reachable from node1's pods and from node2", async () => {
    // IPAM lent node2's pod an address from node1's block (10.65.1.0/24): node1 holds the
    // block's blackhole, so without a /32 to node2 its pods could not reach the pod.
    const borrow = await topo.addPod(nodes[1], { namespace: "x", name: "borrow", ip: "10.65.1.50" });
    pods.push(borrow);
    try {
      for (const mode of ["Never", "Always"] as const) {
        writeCluster(mode);
        await programAll();
        const r1 = await exec(nodes[0].netns, "ip", "route", "show", "proto", "80");
        assert.match(r1, /blackhole 10\.65\.1\.0\/24/, `${mode}: node1 keeps its block's blackhole`);
        const want =
          mode === "Never"
            ? /10\.65\.1\.50 via 172\.31\.250\.2 dev eth0/
            : /10\.65\.1\.50 via 10\.65\.2\.0 dev vxlan\.calico/;
        assert.match(r1, want, `${mode}: node1 routes the borrowed address to node2`);
        await expectConnected([pods[0], borrow], `${mode}: node1's pod ↔ the borrowing pod`);
        if (mode === "Always") {
          // node3 is on another subnet: without encapsulation it has no path to node2 at all (no BGP here).
          assert.match(
            await exec(nodes[2].netns, "ip", "route", "show", "10.65.1.50"),
            /via 10\.65\.2\.0 dev vxlan\.calico/,
          );
          await expectConnected([pods[2], borrow], `${mode}: node3's pod ↔ the borrowing pod`);
        }
        await expectConnected([pods[1], borrow], `${mode}: node2's own pod ↔ the borrowing pod`);
        const fromNode2 = await topo.waitForProbe(nodes[1], borrow.ip, 80, "tcp", { withinMs: 3000 });
        assert.equal(fromNode2.reply, "x/borrow", `${mode}: node2 itself reaches it`);
      }
    } finally {
      pods.pop();
      await topo.removePod(borrow);
      writeCluster("Never"); // programmed by the next test, which programs its own state first
    }
  });

  test("hostile routing claims: node2's affinity for 128.0.0.0/1 and its pod claiming an outside address reroute nothing", async () => {
    // Both claims cover the external host's address: honoured, node1 would send its pods' traffic for
    // 203.0.113.10 to node2, where a pod with that very address answers in the external host's place.
    const evil = await topo.addPod(nodes[1], { namespace: "x", name: "evil", ip: ext.ip });
    pods.push(evil);
    try {
      writeCluster("Always", true);
      dir.write("hostile.yaml", [
        {
          apiVersion: "projectcalico.org/v3",
          kind: "BlockAffinity",
          metadata: { name: "node2-128-0-0-0-1" },
          spec: { node: "node2", cidr: "128.0.0.0/1", state: "confirmed" },
        },
      ]);
      const out = await programAll();
      assert.match(out[0], /block 128\.0\.0\.0\/1 refused: it lies in no IP pool/);
      const r1 = await exec(nodes[0].netns, "ip", "route", "show", "proto", "80");
      assert.doesNotMatch(r1, /128\.0\.0\.0\/1|203\.0\.113\.10/, "no route for either claim");
      for (const [i, p] of [pods[0], pods[2]].entries()) {
        const r = await topo.waitForProbe(p, ext.ip, 80, "tcp", { withinMs: 3000 });
        const node = i === 0 ? nodes[0] : nodes[2];
        assert.equal(r.reply, `ext/ext ${node.underlayIp}`, `${p.key} reaches the real external host`);
      }
      assert.doesNotMatch(await exec(nodes[1].netns, "ip", "route", "show", "proto", "80"), /203\.0\.113\.10/);
    } finally {
      pods.pop();
      dir.remove("hostile.yaml");
      await topo.removePod(evil);
      writeCluster("Never"); // programmed by the next test's daemons
    }
  });

  test("the daemon moves traffic when the pool's mode changes, without a restart", async () => {
    writeCluster("Never");
    // No refresh timer in the way: repairs below must come from link events.
    const daemons = nodes.map((n) =>
      felixDaemon(topo, dir.path, n, { ...env(n), FELIX_IPTABLESREFRESHINTERVAL: "600" }),
    );
    try {
      await eventually(
        async () => daemons.map((d) => d.output()).join(""),
        (o) => (o.match(/"datastore in sync"/g) ?? []).length === 3,
      );
      const [p1, p2, p3] = pods;
      await eventually(
        () => exec(nodes[0].netns, "ip", "link"),
        (o) => !o.includes("vxlan.calico"),
      );
      await expectConnected([p1, p2], "Never");
      writeCluster("Always");
      const moved = await eventually(
        () => exec(nodes[0].netns, "ip", "route", "show", "10.65.2.0/24"),
        (r) => r.includes("vxlan.calico"),
      );
      await eventually(
        () => Promise.all(nodes.map((n) => exec(n.netns, "ip", "route", "show", "proto", "80"))),
        (rs) => rs.every((r) => (r.match(/vxlan\.calico/g) ?? []).length === 2),
      );
      console.log(`# daemon: pool mode change → VXLAN route in ${moved.ms.toFixed(0)} ms`);
      // Someone deletes the device: the link event brings it (and its routes) back without waiting for a refresh.
      await exec(nodes[0].netns, "ip", "link", "del", "vxlan.calico");
      const back = await eventually(
        () => exec(nodes[0].netns, "ip", "route", "show", "proto", "80"),
        (r) => (r.match(/vxlan\.calico/g) ?? []).length === 2,
      );
      console.log(`# daemon: deleted vxlan.calico re-created with its routes in ${back.ms.toFixed(0)} ms`);
      const lines = await capture(topo, () => expectConnected([p1, p2, p3], "after the switch to VXLAN"));
      assert.ok(
        lines.some((l) => outer(l).vxlan && outer(l).src === "172.31.250.1" && outer(l).dst === "172.31.250.2"),
      );
      const raw = lines.filter((l) => isPod(outer(l).src));
      assert.deepEqual(raw, [], "no pod address on the underlay any more");
      writeCluster("Never");
      await eventually(
        () => exec(nodes[0].netns, "ip", "link"),
        (o) => !o.includes("vxlan.calico"),
      );
      await expectConnected([p1, p2], "back to Never");
      // A node without its VXLAN tunnel address: reported by the running daemon, not silently unrouted.
      writeCluster("Always");
      const cluster = readFileSync(join(dir.path, "cluster.yaml"), "utf8");
      dir.write("cluster.yaml", cluster.replace(/\s+projectcalico.org\/IPv4VXLANTunnelAddr: 10\.65\.2\.0/, ""));
      await eventually(
        async () => daemons[0].output(),
        (o) => o.includes("no route to 10.65.2.0/24: VXLAN needs the node's projectcalico.org/IPv4VXLANTunnelAddr"),
      );
      for (const d of daemons) assert.doesNotMatch(d.output(), /"level":50/, d.output().slice(-2000));
    } finally {
      for (const d of daemons) await d.kill();
    }
  });
});
