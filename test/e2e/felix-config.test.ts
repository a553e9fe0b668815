// End to end, FelixConfiguration with the real kernel: one node with a
// host-networked server, two pods and an external host. Each setting is
// read from a FelixConfiguration manifest (not env) by the real `felix
// --once`, and the verdict comes from real connections and conntrack.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  exec,
  requirementsMissing,
  type TopoExternal,
  Topology,
  type TopoNode,
  type TopoPod,
} from "../../src/netns/topology.js";
import { felixOnce, ManifestDir, nodeManifest, podManifest } from "./cluster.js";

const skip = requirementsMissing();

const felixConfig = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: "projectcalico.org/v3",
  kind: "FelixConfiguration",
  metadata: { name },
  spec,
});

describe("FelixConfiguration end to end", { skip }, () => {
  let topo: Topology;
  let dir: ManifestDir;
  let n1: TopoNode;
  let client: TopoPod;
  let web: TopoPod;
  let ext: TopoExternal;

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24", servers: { tcp: [80] } });
    client = await topo.addPod(n1, { namespace: "x", name: "client", ip: "10.65.1.2" });
    web = await topo.addPod(n1, { namespace: "x", name: "web", ip: "10.65.1.3", labels: { app: "web" } });
    ext = await topo.addExternal("ext");
    dir = new ManifestDir();
    dir.write("cluster.yaml", [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } },
      nodeManifest(n1),
      podManifest(client),
      podManifest(web),
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
});
