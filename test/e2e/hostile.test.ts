// Hostile input against the real kernel: the real `felix --once` in a node
// namespace, real pods on cali veths, verdicts from real connections.
//
//   - restore-text injection: a namespace, service account, pod and service
//     port whose names carry "\n-F INPUT" are skipped; INPUT keeps a foreign
//     rule and everything else (a pod, a service) is programmed;
//   - an interface-name collision (red/p2272271 and red/p4484179 both hash to
//     cali65e9ac57649): the wired pod is programmed as neither pod (no
//     connection either way), and once the other pod is gone it gets its own
//     policy, with a restore that works.

import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { exec, requirementsMissing, Topology, type TopoNode, type TopoPod } from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { eventually, felixDaemon, felixOnce, ManifestDir, nodeManifest, podManifest, statusDir } from "./cluster.js";
import { byMode, chainRules, tableText } from "./dataplane-mode.js";

const skip = requirementsMissing();
const INJECT = "a\n-F INPUT";
const SENTINEL = ["-s", "203.0.113.7/32", "-j", "DROP"];

describe("hostile input end to end", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let n1: TopoNode;
  let victim: TopoPod;
  let client: TopoPod;
  let server: TopoPod;

  const attackerPod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p4484179", namespace: "red", labels: { app: "open" } },
    spec: { nodeName: "node1", containers: [{ name: "c" }] },
    status: { phase: "Running", podIP: "10.65.1.3", podIPs: [{ ip: "10.65.1.3" }] },
  };

  function writeCluster(withAttacker: boolean) {
    dir.write("cluster.yaml", [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "red" } },
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "blue" } },
      nodeManifest(n1),
      podManifest(victim, { app: "secret" }),
      podManifest(client),
      podManifest(server),
      ...(withAttacker ? [attackerPod] : []),
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "deny-secret", namespace: "red" },
        spec: { podSelector: { matchLabels: { app: "secret" } }, policyTypes: ["Ingress"] },
      },
    ]);
  }

  async function once(env: NodeJS.ProcessEnv = {}): Promise<string> {
    const [r] = await felixOnce(topo, dir.path, [n1], env);
    assert.equal(r.code, 0, r.output);
    return r.output;
  }

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" });
    victim = await topo.addPod(n1, { namespace: "red", name: "p2272271", ip: "10.65.1.2" });
    client = await topo.addPod(n1, { namespace: "blue", name: "client", ip: "10.65.1.5" });
    server = await topo.addPod(n1, { namespace: "blue", name: "server", ip: "10.65.1.6" });
    assert.equal(victim.hostIface, "cali65e9ac57649");
    dir = new ManifestDir();
    await exec(n1.netns, "iptables-legacy", "-A", "INPUT", ...SENTINEL);
  });

  after(async () => {
    if (n1) rmSync(statusDir(topo, n1), { recursive: true, force: true });
    await topo?.destroy();
    dir?.destroy();
  });

  test("a newline in a namespace, service account, pod or service port name injects nothing; the rest is programmed", async () => {
    writeCluster(false);
    dir.write("inject.yaml", [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: INJECT } },
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: `sa\n-F INPUT`, namespace: "blue" } },
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: `p\n-F INPUT`, namespace: "blue" },
        spec: { nodeName: "node1" },
        status: { phase: "Running", podIP: "10.65.1.9" },
      },
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "q", namespace: INJECT },
        spec: { nodeName: "node1" },
        status: { phase: "Running", podIP: "10.65.1.10" },
      },
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "np", namespace: INJECT },
        spec: { podSelector: {} },
      },
      // Service port names reach rule comments ("<ns>/<svc>:<port> has no endpoints").
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "evil", namespace: "blue" },
        spec: { clusterIP: "10.96.0.66", ports: [{ name: "http\n-F INPUT", port: 80, protocol: "TCP" }] },
      },
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "svc", namespace: "blue" },
        spec: { clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80, targetPort: 80, protocol: "TCP" }] },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "svc-1", namespace: "blue", labels: { "kubernetes.io/service-name": "svc" } },
        addressType: "IPv4",
        ports: [{ name: "http", port: 80, protocol: "TCP" }],
        endpoints: [{ addresses: [server.ip], conditions: { ready: true }, nodeName: "node1" }],
      },
    ]);
    const out = await once({ FELIX_PROXYMODE: "iptables" });
    assert.match(out, /DNS-1123 label/);
    const input = await exec(n1.netns, "iptables-legacy", "-S", "INPUT");
    assert.match(input, /-A INPUT -s 203\.0\.113\.7\/32 -j DROP/, input);
    const hook = await chainRules(n1.netns, "filter", "INPUT");
    const toOurs = byMode({ iptables: /-j cali-INPUT/, nftables: /jump filter-cali-INPUT/ });
    assert.ok(
      hook.some((r) => toOurs.test(r)),
      hook.join("\n"),
    );
    assert.match(out, /spec\.ports\[0\]\.name .*http.*-F INPUT.* is not a DNS-1123 label/);
    assert.ok(await topo.probe(client, server, 80, "tcp"), "blue/client reaches blue/server");
    assert.ok(await topo.probe(client, "10.96.0.10", 80, "tcp"), "and its service");
    const nat = await tableText(n1.netns, "nat");
    assert.ok(nat.includes("10.96.0.10"), "the other service is programmed (the read sees services)");
    assert.ok(!nat.includes("10.96.0.66"), "the service with the injected port name is not programmed");
    assert.ok(!(await topo.probe(client, victim, 80, "tcp")), "red's default-deny holds");
    dir.remove("inject.yaml");
  });

  test("two pods on one interface name: neither is programmed; removing one programs the other as itself", async () => {
    writeCluster(true);
    const out = await once();
    assert.match(out, /interface cali65e9ac57649 is also the interface of pod red\/p4484179/);
    const tw = await chainRules(n1.netns, "filter", "cali-tw-cali65e9ac57649");
    const drop = byMode({ iptables: /-j DROP/, nftables: /\bdrop\b/ });
    assert.ok(
      tw.some((r) => drop.test(r)),
      tw.join("\n"),
    );
    assert.ok(!(await topo.probe(client, victim, 80, "tcp")), "nothing reaches the shared interface");
    assert.ok(!(await topo.probe(victim, client, 80, "tcp")), "nothing leaves the shared interface");
    const routes = await exec(n1.netns, "ip", "route", "show", "proto", "80");
    assert.ok(!routes.includes("10.65.1.2") && !routes.includes("10.65.1.3"), routes);
    assert.ok(await topo.probe(client, server, 80, "tcp"), "other pods are unaffected");

    writeCluster(false);
    await once(); // exits 0: no restore jumps to a missing chain
    assert.ok(!(await topo.probe(client, victim, 80, "tcp")), "the victim's own default-deny");
    // The victim's failed sends left its neighbour entry for 169.254.1.1 unresolved (its
    // interface had no proxy_arp); the kernel re-ARPs within ~1 s, so probe until then.
    const egress = await topo.waitForProbe(victim, client, 80, "tcp", { withinMs: 3000 });
    assert.ok(egress.ok, `the victim's egress is open again: ${JSON.stringify(egress)}`);
    assert.match(await exec(n1.netns, "ip", "route", "show", "proto", "80"), /10\.65\.1\.2 dev cali65e9ac57649/);
    const input = await exec(n1.netns, "iptables-legacy", "-S", "INPUT");
    assert.match(input, /-A INPUT -s 203\.0\.113\.7\/32 -j DROP/);
  });

  test("the daemon: a colliding pod appears and goes; every apply succeeds and the victim ends up as itself", async () => {
    writeCluster(false);
    const d = felixDaemon(topo, dir.path, n1, { FELIX_IPTABLESREFRESHINTERVAL: "600" });
    try {
      await eventually(
        async () => d.output(),
        (o) => o.includes("dataplane programmed") || o.includes("already in sync"),
      );
      assert.ok(await topo.probe(victim, client, 80, "tcp"), "programmed as itself");
      writeCluster(true);
      await eventually(
        () => topo.probe(victim, client, 80, "tcp", 300),
        (ok) => !ok,
      );
      assert.match(d.output(), /interface cali65e9ac57649 is also the interface of pod/);
      writeCluster(false);
      await eventually(
        () => topo.probe(victim, client, 80, "tcp", 300),
        (ok) => ok,
      );
      assert.ok(!(await topo.probe(client, victim, 80, "tcp")), "its own default-deny");
      assert.ok(!d.output().includes("apply failed"), d.output().slice(-3000));
    } finally {
      await d.kill();
    }
  });
});
