// kube-proxy's health servers, end to end (iptables proxy mode): a
// LoadBalancer Service with externalTrafficPolicy Local has its one endpoint
// on node1; a load balancer's probe (curl from the other node's namespace) of
// each node's health check node port gets 200 from node1 and 503 from node2,
// and both nodes' /healthz on 10256 answer 200; its node port answers on
// 127.0.0.1 of both nodes (kube-proxy's localhost node ports). The health
// check port closes when the Service goes.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Background, exec, requirementsMissing, Topology, type TopoNode } from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { clusterManifests, daemonsReady, eventually, felixDaemon, ManifestDir, stopDaemons } from "./cluster.js";
import { chainNames, chainRules, TEST_DATAPLANE, TEST_PROXYMODE } from "./dataplane-mode.js";

const skip = requirementsMissing();
const HC_PORT = 32100;

const lbService = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "web", namespace: "svc" },
  spec: {
    type: "LoadBalancer",
    clusterIP: "10.96.0.80",
    ports: [{ name: "http", port: 80, targetPort: 80, nodePort: 30080 }],
    externalTrafficPolicy: "Local",
    healthCheckNodePort: HC_PORT,
  },
};

describe(`health check node port and /healthz (${TEST_PROXYMODE} proxy mode)`, skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let n1: TopoNode;
  let n2: TopoNode;
  const daemons: Background[] = [];

  /** curl from `from`'s namespace: "<status> <body>", or "!<exit code>" when it cannot connect. */
  async function probe(from: TopoNode, host: string, port: number, path = "/"): Promise<string> {
    try {
      const out = await exec(
        from.netns,
        "curl",
        "-s",
        "-m",
        "2",
        "-w",
        " %{http_code}",
        `http://${host}:${port}${path}`,
      );
      const code = out.slice(out.lastIndexOf(" ") + 1);
      return `${code} ${out.slice(0, out.lastIndexOf(" "))}`;
    } catch (e) {
      return `!${(e as Error).message.split("\n")[0]}`;
    }
  }

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" });
    n2 = await topo.addNode("node2", { underlayIp: "172.31.250.2", podCIDR: "10.65.2.0/24" });
    const b1 = await topo.addPod(n1, { namespace: "svc", name: "b1", ip: "10.65.1.10" });
    dir = new ManifestDir();
    dir.write("cluster.yaml", clusterManifests(topo));
    dir.write("web.yaml", [
      lbService,
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "web-1", namespace: "svc", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        ports: [{ name: "http", port: 80, protocol: "TCP" }],
        endpoints: [{ addresses: [b1.ip], nodeName: "node1", conditions: { ready: true } }],
      },
    ]);
    for (const n of [n1, n2]) daemons.push(felixDaemon(topo, dir.path, n, { FELIX_PROXYMODE: TEST_PROXYMODE }));
    await daemonsReady(
      daemons,
      () => probe(n2, n1.underlayIp, HC_PORT),
      (r) => r.startsWith("200 "),
    );
  });

  after(() => stopDaemons(daemons, topo, [n1, n2], dir));

  test("the node with the local endpoint answers 200, the other 503, with kube-proxy's body", async () => {
    assert.equal(
      await probe(n2, n1.underlayIp, HC_PORT),
      '200 {\n\t"service": {\n\t\t"namespace": "svc",\n\t\t"name": "web"\n\t},\n\t"localEndpoints": 1,\n\t"serviceProxyHealthy": true\n}',
    );
    const other = await eventually(
      () => probe(n1, n2.underlayIp, HC_PORT),
      (r) => r.startsWith("503 "),
    );
    assert.match(other.value, /"localEndpoints": 0,/);
  });

  test("/healthz and /livez on 10256 answer 200 on both nodes", async () => {
    for (const [from, to] of [
      [n2, n1],
      [n1, n2],
    ] as const) {
      assert.match(
        await probe(from, to.underlayIp, 10256, "/healthz"),
        /^200 \{"lastUpdated": .*"nodeEligible": true\}$/,
      );
      assert.match(
        await probe(from, to.underlayIp, 10256, "/livez"),
        /^200 \{"lastUpdated": "[^"]+","currentTime": "[^"]+"\}$/,
      );
    }
  });

  const localhostTitle =
    TEST_PROXYMODE === "nftables"
      ? "localhost node ports: none in kube-proxy's nftables layout (127.0.0.1:<nodePort> does not answer)"
      : "localhost node ports: 127.0.0.1:<nodePort> from either node reaches the endpoint (route_localnet set)";
  test(localhostTitle, async () => {
    if (TEST_PROXYMODE === "nftables") {
      // kube-proxy's nftables mode has no localhost node ports (`ip daddr != 127.0.0.0/8`), nor do we in it.
      for (const n of [n1, n2]) assert.equal(await topo.probe(n, "127.0.0.1", 30080, "tcp", 800), false, n.name);
      assert.ok(!(await chainNames(n2.netns, "filter")).includes("cali-FIREWALL"));
      return;
    }
    for (const n of [n1, n2]) {
      const r = await topo.probeDetail(n, "127.0.0.1", 30080, "tcp", 1500);
      assert.equal(r.ok ? r.reply?.trim() : `!${r.error}`, "svc/b1", `from ${n.name}`);
    }
    // node2 has no endpoint: the connection leaves it with 127.0.0.1 as source until masqueraded.
    assert.equal((await exec(n2.netns, "sysctl", "-n", "net.ipv4.conf.all.route_localnet")).trim(), "1");
    const rules = await chainRules(n2.netns, "filter", "cali-FIREWALL");
    const guard =
      TEST_DATAPLANE === "iptables"
        ? /! -s 127\.0\.0\.0\/8 -d 127\.0\.0\.0\/8 .*! --ctstate RELATED,ESTABLISHED,DNAT -j DROP/
        : /ip saddr != 127\.0\.0\.0\/8 ip daddr 127\.0\.0\.0\/8 ct state ! established,related ct status ! dnat counter drop/;
    assert.ok(
      rules.some((r) => guard.test(r)),
      `cali-FIREWALL drops 127/8 from elsewhere:\n${rules.join("\n")}`,
    );
  });

  test("the Service goes: its health check port closes", async () => {
    dir.write("web.yaml", []);
    await eventually(
      () => probe(n2, n1.underlayIp, HC_PORT),
      (r) => r.startsWith("!"),
    );
    assert.match(await probe(n2, n1.underlayIp, 10256, "/healthz"), /^200 /);
  });
});
