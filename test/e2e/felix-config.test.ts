// End to end, FelixConfiguration with the real kernel: one node with a
// host-networked server, two pods and an external host. Each setting is
// read from a FelixConfiguration manifest (not env) by the real `felix
// --once`, and the verdict comes from real connections and conntrack.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  exec,
  iptablesCmd,
  requirementsMissing,
  type TopoExternal,
  Topology,
  type TopoNode,
  type TopoPod,
} from "../../src/netns/topology.js";
import { skipIf, skipNow } from "../helpers/skip.js";
import { eventually, felixOnce, ManifestDir, nodeManifest, podManifest } from "./cluster.js";
import { chainNames, TEST_DATAPLANE } from "./dataplane-mode.js";

const skip = requirementsMissing();

const felixConfig = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: "projectcalico.org/v3",
  kind: "FelixConfiguration",
  metadata: { name },
  spec,
});

describe("FelixConfiguration end to end", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let n1: TopoNode;
  let client: TopoPod;
  let web: TopoPod;
  let router: TopoPod;
  let ext: TopoExternal;

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24", servers: { tcp: [80] } });
    client = await topo.addPod(n1, { namespace: "x", name: "client", ip: "10.65.1.2" });
    web = await topo.addPod(n1, { namespace: "x", name: "web", ip: "10.65.1.3", labels: { app: "web" } });
    router = await topo.addPod(n1, { namespace: "x", name: "router", ip: "10.65.1.4", servers: {} });
    ext = await topo.addExternal("ext");
    dir = new ManifestDir();
    dir.write("cluster.yaml", [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } },
      nodeManifest(n1),
      podManifest(client),
      podManifest(web),
      {
        ...(podManifest(router) as { metadata: object }),
        metadata: {
          name: "router",
          namespace: "x",
          annotations: { "cni.projectcalico.org/allowedSourcePrefixes": '["192.0.2.0/24"]' },
        },
      },
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "web-deny-all", namespace: "x" },
        spec: { podSelector: { matchLabels: { app: "web" } }, policyTypes: ["Ingress"] },
      },
    ]);
  });

  after(async () => {
    await topo?.destroy();
    dir?.destroy();
  });

  async function program(config: object[]): Promise<string> {
    dir.write("felix-config.yaml", config);
    const [r] = await felixOnce(topo, dir.path, [n1]);
    assert.equal(r.code, 0, r.output);
    return r.output;
  }

  test("defaultEndpointToHostAction Drop (node.node1 over default's Accept): the pod cannot reach its node; pod to pod still works", async () => {
    await program([]);
    const open = await topo.probeDetail(client, n1, 80, "tcp", 1000);
    assert.equal(open.ok, true, `no setting (ACCEPT): pod → node works: ${open.error}`);
    await program([
      felixConfig("default", { defaultEndpointToHostAction: "Accept" }),
      felixConfig("node.node1", { defaultEndpointToHostAction: "Drop" }),
    ]);
    const dropped = await topo.probeDetail(client, n1, 80, "tcp", 1000);
    assert.equal(dropped.ok, false, "Drop from FelixConfiguration: pod → node is dropped");
    assert.equal(dropped.error, "timeout", "dropped, not refused");
    assert.equal(await topo.probe(web, client, 80, "tcp"), true, "forwarded pod → pod traffic is not affected");
  });

  test("iptablesFilterDenyAction Reject: a connection policy denies is refused at once instead of timing out", async () => {
    await program([]);
    const dropped = await topo.probeDetail(client, web, 80, "tcp", 1000);
    assert.deepEqual([dropped.ok, dropped.error], [false, "timeout"], "Drop (default): the client waits");
    await program([felixConfig("default", { iptablesFilterDenyAction: "Reject" })]);
    const refused = await topo.probeDetail(client, web, 80, "tcp", 3000);
    assert.equal(refused.ok, false, "still denied");
    assert.match(refused.error ?? "", /Refused/i, `the kernel answered with ICMP port unreachable: ${refused.error}`);
    assert.equal(await topo.probe(web, client, 80, "tcp"), true, "allowed traffic is not affected");
  });

  test("natOutgoingAddress and natPortRange: the external host sees that address, conntrack that port range", async () => {
    // A second node address for SNAT, on the underlay so the external host's reply comes back to it.
    await exec(n1.netns, "ip", "addr", "add", "172.31.250.101/24", "dev", "eth0");
    const pool = {
      apiVersion: "projectcalico.org/v3",
      kind: "IPPool",
      metadata: { name: "default-ipv4-ippool" },
      spec: { cidr: "10.65.0.0/16", blockSize: 24, natOutgoing: true },
    };
    await program([pool]);
    const masq = await topo.waitForProbe(client, ext.ip, 80, "tcp", { withinMs: 3000 });
    assert.equal(masq.reply, `ext/ext ${n1.underlayIp}`, "natOutgoing alone: MASQUERADE to the node's address");
    await exec(n1.netns, "conntrack", "-F");
    await program([
      pool,
      felixConfig("default", {
        natOutgoingAddress: "172.31.250.101",
        natPortRange: "40000:40099",
        iptablesNATOutgoingInterfaceFilter: "eth0",
      }),
    ]);
    const snat = await topo.waitForProbe(client, ext.ip, 80, "tcp", { withinMs: 3000 });
    assert.equal(snat.reply, "ext/ext 172.31.250.101", "SNAT to natOutgoingAddress");
    const ct = await exec(n1.netns, "conntrack", "-L", "-p", "tcp", "--orig-src", client.ip, "--orig-dst", ext.ip);
    const ports = [...ct.matchAll(/src=203\.0\.113\.10 dst=172\.31\.250\.101 sport=80 dport=(\d+)/g)].map((m) =>
      Number(m[1]),
    );
    assert.ok(ports.length > 0, `a translated connection in conntrack:\n${ct}`);
    for (const p of ports) assert.ok(p >= 40000 && p <= 40099, `translated source port ${p} within natPortRange`);
  });

  /** How many of three UDP datagrams from `src` (an address of the router pod) the client pod's eth0 saw. */
  async function delivered(src: string): Promise<number> {
    const dump = topo.spawn(client, "tcpdump", ["-i", "eth0", "-nn", "-l", "udp", "and", "src", "host", src]);
    try {
      await eventually(
        async () => dump.output(),
        (o) => o.includes("listening on"),
        5000,
        20,
      );
      const send = `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("${src}", 0))
for _ in range(3):
    s.sendto(b"spoof", ("${client.ip}", 81))`;
      await exec(router.netns, "python3", "-c", send);
      await new Promise((r) => setTimeout(r, 300)); // tcpdump's last lines
    } finally {
      await dump.kill("SIGINT");
    }
    return dump
      .output()
      .split("\n")
      .filter((l) => l.includes(` IP ${src}.`)).length;
  }

  test("workloadSourceSpoofing Any: a source in the pod's allowedSourcePrefixes gets through; Disabled, or outside them, it does not", async () => {
    await exec(router.netns, "ip", "addr", "add", "192.0.2.5/32", "dev", "eth0");
    await exec(router.netns, "ip", "addr", "add", "198.51.100.5/32", "dev", "eth0");
    await program([]);
    assert.equal(await delivered(router.ip), 3, "the pod's own address: delivered");
    assert.equal(await delivered("192.0.2.5"), 0, "Disabled (default): the annotation grants nothing");
    await program([felixConfig("default", { workloadSourceSpoofing: "Any" })]);
    assert.equal(await delivered("192.0.2.5"), 3, "Any: the allowed prefix gets through");
    assert.equal(await delivered("198.51.100.5"), 0, "Any: other spoofed sources are still dropped");
    assert.equal(await exec(n1.netns, "cat", `/proc/sys/net/ipv4/conf/${router.hostIface}/rp_filter`), "0\n");
    assert.equal(await exec(n1.netns, "cat", `/proc/sys/net/ipv4/conf/${client.hostIface}/rp_filter`), "1\n");
  });

  test("ipv6Support false in FelixConfiguration: our ip6tables chains and IPv6 sets leave the kernel; IPv4 stays", async (t) => {
    const ip6save = () => exec(n1.netns, `${iptablesCmd().replace("iptables", "ip6tables")}-save`);
    const [r] = await felixOnce(topo, dir.path, [n1]);
    if (/ip6tables is not usable/.test(r.output)) {
      skipNow(t, "ip6tables is not usable here");
      return;
    }
    await program([]);
    assert.ok((await chainNames(n1.netns, "filter", 6)).includes("cali-FORWARD"), "IPv6 on (default): our IPv6 chains");
    await program([felixConfig("default", { ipv6Support: false })]);
    assert.doesNotMatch(await ip6save(), /cali-/, "ipv6Support false: none of ours left in ip6tables");
    const v6 = await chainNames(n1.netns, "filter", 6);
    assert.deepEqual(
      v6.filter((c) => c.startsWith("cali-")),
      [],
      "ipv6Support false: no IPv6 chains of ours",
    );
    // nftables mode: table ip6 calico goes whole, base chains included.
    if (TEST_DATAPLANE === "nftables") assert.deepEqual(v6, []);
    assert.doesNotMatch(await exec(n1.netns, "ipset", "list", "-n"), /^cali6/m, "no IPv6 sets");
    assert.ok((await chainNames(n1.netns, "filter")).includes("cali-FORWARD"), "IPv4 untouched");
    assert.equal(await topo.probe(web, client, 80, "tcp"), true, "IPv4 traffic still flows");
  });
});
