// Services end to end, iptables proxy mode (FELIX_PROXYMODE=iptables), or
// kube-proxy's nftables layout with FELIX_TEST_PROXYMODE=nftables: two
// nodes, the watching `felix` daemon in each, real connections from pods and
// nodes to ClusterIPs and NodePorts; the backends' replies ("<ns>/<pod>")
// say which endpoint the kernel's DNAT picked.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parse, stringify } from "yaml";
import { natShardOf } from "../../model/nat-shards.js";
import { natTableName } from "../../nftables/names.js";
import {
  type Background,
  exec,
  requirementsMissing,
  Topology,
  type TopoNode,
  type TopoPod,
} from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { traceMatrix } from "../helpers/trace-matrix.js";
import { clusterManifests, daemonsReady, eventually, felixDaemon, ManifestDir, stopDaemons } from "./cluster.js";
import { assertProxyLayout, TEST_DATAPLANE, TEST_PROXYMODE } from "./dataplane-mode.js";

const skip = requirementsMissing();
const ENV = { FELIX_PROXYMODE: TEST_PROXYMODE };

function service(name: string, clusterIP: string, extra: Record<string, unknown> = {}): object {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "svc" },
    spec: { clusterIP, ports: [{ name: "http", port: 8080, targetPort: 80 }], ...extra },
  };
}

function slice(service: string, backends: readonly TopoPod[], name = `${service}-1`): object {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: "svc", labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    ports: [{ name: "http", port: 80, protocol: "TCP" }],
    endpoints: backends.map((b) => ({
      addresses: [b.ip],
      nodeName: b.node.name,
      conditions: { ready: true },
      targetRef: { kind: "Pod", namespace: b.namespace, name: b.name },
    })),
  };
}

/** The topology's IPv6 pod addresses, node CIDRs and node addresses added to the manifests. */
function dualStack(yamlText: string, topo: Topology): string {
  const docs = yamlText.split("---\n").map((d) => parse(d));
  for (const d of docs) {
    if (d.kind === "Node") {
      const n = topo.nodes.get(d.metadata.name)!;
      if (!n.podCIDRv6) continue;
      d.spec.podCIDRs = [n.podCIDR, n.podCIDRv6];
      d.status.addresses.push({ type: "InternalIP", address: n.underlayIpv6 });
    } else if (d.kind === "Pod") {
      const p = topo.pods.get(`${d.metadata.namespace}/${d.metadata.name}`)!;
      if (p.ipv6) d.status.podIPs.push({ ip: p.ipv6 });
    }
  }
  return docs.map((d) => stringify(d)).join("---\n");
}

describe(`services end to end (${TEST_PROXYMODE} proxy mode)`, skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let n1: TopoNode;
  let n2: TopoNode;
  let client: TopoPod;
  let denied: TopoPod;
  let backends: TopoPod[];
  let secret: TopoPod;
  const daemons: Background[] = [];

  /** The replies of `n` connections (failures as "!<error>"). */
  async function replies(from: TopoPod | TopoNode, host: string, port: number, n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await topo.probeDetail(from, host, port, "tcp", 1000);
      out.push(r.ok ? (r.reply ?? "").trim() : `!${r.error}`);
    }
    return out;
  }

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    const v6 = (n: number) => ({ underlayIpv6: `fd00:fe11::${n}`, podCIDRv6: `fd00:65:${n}::/64` });
    n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24", ...v6(1) });
    n2 = await topo.addNode("node2", { underlayIp: "172.31.250.2", podCIDR: "10.65.2.0/24", ...v6(2) });
    client = await topo.addPod(n1, {
      namespace: "x",
      name: "client",
      ip: "10.65.1.2",
      ipv6: "fd00:65:1::2",
      labels: { role: "allowed" },
    });
    denied = await topo.addPod(n1, { namespace: "x", name: "denied", ip: "10.65.1.3" });
    backends = [
      await topo.addPod(n1, { namespace: "svc", name: "b1", ip: "10.65.1.10", ipv6: "fd00:65:1::10" }),
      await topo.addPod(n2, { namespace: "svc", name: "b2", ip: "10.65.2.10", ipv6: "fd00:65:2::10" }),
      await topo.addPod(n2, { namespace: "svc", name: "b3", ip: "10.65.2.11", ipv6: "fd00:65:2::11" }),
    ];
    secret = await topo.addPod(n2, { namespace: "svc", name: "secret", ip: "10.65.2.20" });
    dir = new ManifestDir();
    dir.write("cluster.yaml", dualStack(clusterManifests(topo), topo));
    dir.write("services.yaml", [
      service("web", "10.96.0.10", {
        type: "NodePort",
        ports: [{ name: "http", port: 8080, targetPort: 80, nodePort: 30080 }],
      }),
      slice("web", backends),
      service("sticky", "10.96.0.11", { sessionAffinity: "ClientIP" }),
      slice("sticky", backends),
      service("secret", "10.96.0.12"),
      slice("secret", [secret]),
      service("web6", "fd00:96::10", { ipFamilies: ["IPv6"] }),
      {
        ...(slice("web6", backends) as { endpoints: { addresses: string[] }[] }),
        metadata: { name: "web6-1", namespace: "svc", labels: { "kubernetes.io/service-name": "web6" } },
        addressType: "IPv6",
        endpoints: backends.map((b) => ({ addresses: [b.ipv6!], nodeName: b.node.name, conditions: { ready: true } })),
      },
    ]);
    dir.write("changing.yaml", [service("changing", "10.96.0.13"), slice("changing", backends)]);
    // Only pods labelled role=allowed may reach svc/secret (and only on port 80).
    dir.write("policy.yaml", [
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "secret", namespace: "svc" },
        spec: {
          podSelector: { matchLabels: { pod: "secret" } },
          ingress: [
            {
              from: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: "allowed" } } }],
              ports: [{ port: 80 }],
            },
          ],
        },
      },
    ]);
    for (const n of [n1, n2]) daemons.push(felixDaemon(topo, dir.path, n, ENV));
    await daemonsReady(
      daemons,
      () => topo.probeDetail(client, "10.96.0.10", 8080, "tcp", 500),
      (r) => r.ok,
    );
    // node2's agent too (the probe above may have gone to node1's backend): its own node port answers.
    await daemonsReady(
      daemons,
      () => topo.probeDetail(n1, n2.underlayIp, 30080, "tcp", 500),
      (r) => r.ok,
    );
  });

  after(() => stopDaemons(daemons, topo, [n1, n2], dir));

  test("the agents program services in the proxy layout under test", async () => {
    for (const n of [n1, n2]) await assertProxyLayout(n.netns);
  });

  test("a pod reaches a ClusterIP and, over many connections, every backend answers", async () => {
    const got = await replies(client, "10.96.0.10", 8080, 30);
    assert.deepEqual(new Set(got), new Set(backends.map((b) => b.key)), got.join(" "));
  });

  test("IPv6: a pod reaches an IPv6 ClusterIP and every backend answers", async () => {
    const got = await replies(client, "fd00:96::10", 8080, 30);
    assert.deepEqual(new Set(got), new Set(backends.map((b) => b.key)), got.join(" "));
  });

  test("a NodePort answers from the node's own namespace and from a second node", async () => {
    const own = await replies(n1, n1.underlayIp, 30080, 6);
    const other = await replies(n2, n1.underlayIp, 30080, 6);
    for (const r of [...own, ...other])
      assert.ok(
        backends.some((b) => b.key === r),
        `${own} / ${other}`,
      );
  });

  // iptables mode only (not registered in the nftables mode, where it does not apply): a DROP policy of iptables'
  // FORWARD chain drops what our nft table accepts (each netfilter hook runs every table; an accept in one does not
  // skip the others), as with Felix's nftables mode.
  const forwardPolicyTest = TEST_DATAPLANE === "iptables" ? test : () => {};
  forwardPolicyTest(
    "with a DROP FORWARD policy, node-port traffic is still forwarded, also back out to the other node's pods",
    async () => {
      await exec(n1.netns, "iptables-legacy", "-P", "FORWARD", "DROP");
      try {
        const got = await replies(n2, n1.underlayIp, 30080, 24);
        assert.deepEqual(new Set(got), new Set(backends.map((b) => b.key)), got.join(" "));
      } finally {
        await exec(n1.netns, "iptables-legacy", "-P", "FORWARD", "ACCEPT");
      }
    },
  );

  test("ClientIP affinity keeps one client on one backend", async () => {
    if (TEST_DATAPLANE === "nftables" && TEST_PROXYMODE === "iptables") {
      // Not in the nft renderer yet: the service is left out whole and reported, never half-programmed.
      await eventually(
        async () => daemons[0].output(),
        (o) => /not programmed: svc\/sticky:\S*\/tcp\/v4: nftables: session affinity/.test(o),
      );
      assert.equal(await topo.probe(client, "10.96.0.11", 8080, "tcp", 600), false);
      return;
    }
    const got = await replies(client, "10.96.0.11", 8080, 12);
    assert.equal(new Set(got).size, 1, got.join(" "));
    assert.ok(
      backends.some((b) => b.key === got[0]),
      got[0],
    );
    if (TEST_PROXYMODE === "nftables") {
      // The kernel's `update @affinity-…` put the client into the chosen endpoint's set, and only that one.
      const chosen = backends.find((b) => b.key === got[0])!;
      const sets = await exec(n1.netns, "nft", "list", "sets", "ip");
      const names = [...sets.matchAll(/set (affinity-\S+-svc\/sticky\/tcp\/http__(\S+)\/80) \{/g)];
      assert.equal(names.length, backends.length, sets);
      for (const [, name, ip] of names) {
        const table = natTableName(natShardOf("svc/sticky")); // the service's nat shard
        const elems = await exec(n1.netns, "nft", "list", "set", "ip", table, name);
        assert.equal(/elements = \{ 10\.65\.1\.2 /.test(elems), ip === chosen.ip, `${name}:\n${elems}`);
      }
      return;
    }
    // The kernel's recent list holds the client under the chosen endpoint's chain.
    const lists = await exec(n1.netns, "sh", "-c", "cat /proc/net/xt_recent/cali-SEP-*");
    assert.match(lists, /src=10\.65\.1\.2 /);
  });

  test("NetworkPolicy still applies after DNAT: the allowed pod gets through the ClusterIP, the other is denied", async () => {
    const ok = await topo.probeDetail(client, "10.96.0.12", 8080, "tcp", 1000);
    assert.ok(ok.ok, `allowed client: ${ok.error}`);
    assert.equal(ok.reply?.trim(), "svc/secret");
    const no = await topo.probeDetail(denied, "10.96.0.12", 8080, "tcp", 600);
    assert.equal(no.ok, false, "denied client reached svc/secret through the ClusterIP");
    // Directly, the same verdicts: the service path neither opens nor closes anything.
    assert.equal(await topo.probe(client, secret, 80, "tcp", 1000), true);
    assert.equal(await topo.probe(denied, secret, 80, "tcp", 600), false);
  });

  test("felix-dump trace says what the kernel did, through ClusterIPs and directly", async () => {
    const probes = [
      { from: client, dst: "10.96.0.12", port: 8080 },
      { from: denied, dst: "10.96.0.12", port: 8080 },
      { from: client, dst: secret.ip, port: 80 },
      { from: denied, dst: secret.ip, port: 80 },
      { from: denied, dst: "10.96.0.10", port: 8080 },
      { from: client, dst: "10.96.0.10", port: 8080 },
    ];
    const kernel = await Promise.all(probes.map((p) => topo.probe(p.from, p.dst, p.port, "tcp", 1000)));
    const traced = await traceMatrix(
      dir.path,
      probes.map((p) => ({ src: p.from.ip, dst: p.dst, port: p.port, protocol: "tcp" as const })),
      ENV,
    );
    assert.deepEqual(
      traced.map((t) => t.verdict === "allow"),
      kernel,
      probes
        .map((p, i) => `${p.from.key} → ${p.dst}:${p.port}: kernel ${kernel[i]}, trace ${traced[i]!.verdict}`)
        .join("\n"),
    );
    // The web service's three backends: every branch allowed, shares summing to one.
    assert.equal(traced[5]!.allowedShare, 1);
  });

  test("a cluster IP on a port no service has: nothing answers (rejected at once in kube-proxy's nftables layout)", async () => {
    const r = await topo.probeDetail(client, "10.96.0.10", 9999, "tcp", 1000);
    assert.equal(r.ok, false);
    // nftables: cluster-ips-check rejects it; iptables: kube-proxy leaves it to routing (no such rule).
    if (TEST_PROXYMODE === "nftables") assert.match(r.error ?? "", /refused/i);
  });

  test("endpoints that change mid-test are followed by the daemon", async () => {
    const [b1, b2, b3] = backends;
    dir.write("changing.yaml", [service("changing", "10.96.0.13"), slice("changing", [b3])]);
    await eventually(
      () => replies(client, "10.96.0.13", 8080, 6),
      (got) => got.every((r) => r === b3.key),
      10_000,
    );
    dir.write("changing.yaml", [service("changing", "10.96.0.13"), slice("changing", [b1, b2])]);
    const { value } = await eventually(
      () => replies(client, "10.96.0.13", 8080, 20),
      (got) => got.every((r) => r === b1.key || r === b2.key) && new Set(got).size === 2,
      10_000,
    );
    assert.ok(!value.includes(b3.key));
    // No endpoints at all: the kernel REJECTs (connection refused), no timeout.
    dir.write("changing.yaml", [service("changing", "10.96.0.13"), slice("changing", [])]);
    const { value: refused } = await eventually(
      () => topo.probeDetail(client, "10.96.0.13", 8080, "tcp", 1000),
      (r) => !r.ok && /refused/i.test(r.error ?? ""),
      10_000,
    );
    assert.match(refused.error ?? "", /refused/i);
  });
});
