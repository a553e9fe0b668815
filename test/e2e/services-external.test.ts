// External traffic to services end to end, in the proxy mode under test
// (FELIX_PROXYMODE=iptables, or kube-proxy's nftables layout with
// FELIX_TEST_PROXYMODE=nftables): hosts outside the cluster reach NodePorts
// and a LoadBalancer IP (routed to node1 by the switch). The source address
// an endpoint sees is read from node1's conntrack entry (its reply tuple):
//   - externalTrafficPolicy Local keeps the client's address; a node without
//     a local endpoint drops (no reject, no forwarding);
//   - externalTrafficPolicy Cluster masquerades to the node;
//   - loadBalancerSourceRanges admit the listed sources to the LB IP only;
//     the node port stays open to all, as in kube-proxy.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type Background,
  exec,
  requirementsMissing,
  type TopoExternal,
  Topology,
  type TopoNode,
  type TopoPod,
} from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { clusterManifests, daemonsReady, eventually, felixDaemon, ManifestDir, stopDaemons } from "./cluster.js";
import { assertProxyLayout, TEST_PROXYMODE } from "./dataplane-mode.js";

const skip = requirementsMissing();
const LB_IP = "192.0.2.50";

function service(name: string, spec: Record<string, unknown>, status: Record<string, unknown> = {}): object {
  return { apiVersion: "v1", kind: "Service", metadata: { name, namespace: "svc" }, spec, status };
}

function slice(service: string, backends: readonly TopoPod[]): object {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `${service}-1`, namespace: "svc", labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    ports: [{ name: "http", port: 80, protocol: "TCP" }],
    endpoints: backends.map((b) => ({ addresses: [b.ip], nodeName: b.node.name, conditions: { ready: true } })),
  };
}

describe(`external traffic to services (${TEST_PROXYMODE} proxy mode)`, skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let n1: TopoNode;
  let n2: TopoNode;
  let b1: TopoPod;
  let allowed: TopoExternal;
  let other: TopoExternal;
  const daemons: Background[] = [];

  const reply = async (from: TopoExternal, host: string, port: number) => {
    const r = await topo.probeDetail(from, host, port, "tcp", 1000);
    return r.ok ? (r.reply ?? "").trim() : `!${r.error}`;
  };
  /** The address node `n`'s DNATed connection to `port` replies to: the source the endpoint saw. */
  const seenSource = async (n: TopoNode, dst: string, port: number) => {
    const ct = await exec(n.netns, "conntrack", "-L", "-p", "tcp", "--orig-dst", dst, "--orig-port-dst", String(port));
    const m = /src=10\.65\.\d+\.\d+ dst=(\S+) /.exec(ct);
    assert.ok(m, `no DNATed entry to ${dst}:${port} on ${n.name}:\n${ct}`);
    return m[1];
  };

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" });
    n2 = await topo.addNode("node2", { underlayIp: "172.31.250.2", podCIDR: "10.65.2.0/24" });
    b1 = await topo.addPod(n1, { namespace: "svc", name: "b1", ip: "10.65.1.10" });
    allowed = await topo.addExternal("ok", { ip: "203.0.113.10", servers: {} });
    other = await topo.addExternal("other", { ip: "198.51.100.10", servers: {} });
    // The cloud load balancer: the LB IP is routed to node1.
    await exec(topo.switchNs, "ip", "route", "add", `${LB_IP}/32`, "via", n1.underlayIp);
    dir = new ManifestDir();
    dir.write("cluster.yaml", clusterManifests(topo));
    const port = (nodePort: number) => [{ name: "http", port: 80, targetPort: 80, nodePort }];
    dir.write("services.yaml", [
      service("local", {
        type: "NodePort",
        clusterIP: "10.96.0.81",
        externalTrafficPolicy: "Local",
        ports: port(30081),
      }),
      slice("local", [b1]),
      service("cluster", { type: "NodePort", clusterIP: "10.96.0.82", ports: port(30082) }),
      slice("cluster", [b1]),
      service(
        "lb",
        {
          type: "LoadBalancer",
          clusterIP: "10.96.0.83",
          loadBalancerSourceRanges: [`${allowed.ip}/32`],
          ports: port(30083),
        },
        { loadBalancer: { ingress: [{ ip: LB_IP }] } },
      ),
      slice("lb", [b1]),
    ]);
    for (const n of [n1, n2]) daemons.push(felixDaemon(topo, dir.path, n, { FELIX_PROXYMODE: TEST_PROXYMODE }));
    await daemonsReady(
      daemons,
      () => reply(allowed, n1.underlayIp, 30082),
      (r) => r === b1.key,
    );
    // node2's agent too (services.test.ts does the same): under load it may still be programming.
    await daemonsReady(
      daemons.slice(1),
      () => reply(allowed, n2.underlayIp, 30082),
      (r) => r === b1.key,
    );
  });

  after(() => stopDaemons(daemons, topo, [n1, n2], dir));

  test("the agents program services in the proxy layout under test", async () => {
    for (const n of [n1, n2]) await assertProxyLayout(n.netns);
  });

  test("externalTrafficPolicy Local: the endpoint sees the client's address; a node without a local endpoint drops", async () => {
    assert.equal(await reply(allowed, n1.underlayIp, 30081), b1.key);
    assert.equal(await seenSource(n1, n1.underlayIp, 30081), allowed.ip);
    const r = await topo.probeDetail(allowed, n2.underlayIp, 30081, "tcp", 800);
    assert.equal(r.ok, false, "node2 has no local endpoint but answered");
    assert.doesNotMatch(r.error ?? "", /refused/i, "dropped, not rejected");
  });

  test("externalTrafficPolicy Cluster: through the other node, masqueraded to that node", async () => {
    assert.equal(await reply(allowed, n2.underlayIp, 30082), b1.key);
    assert.equal(await seenSource(n2, n2.underlayIp, 30082), n2.underlayIp);
  });

  test("loadBalancerSourceRanges: the listed source reaches the LB IP, another does not; the node port is open to both", async () => {
    assert.equal(await reply(allowed, LB_IP, 80), b1.key);
    const r = await topo.probeDetail(other, LB_IP, 80, "tcp", 800);
    assert.equal(r.ok, false, "a source outside loadBalancerSourceRanges reached the LB IP");
    assert.equal(await reply(other, n1.underlayIp, 30083), b1.key);
    // The ranges change: the daemon follows.
    dir.write("services.yaml", [
      service(
        "lb",
        {
          type: "LoadBalancer",
          clusterIP: "10.96.0.83",
          loadBalancerSourceRanges: [`${other.ip}/32`],
          ports: [{ name: "http", port: 80, targetPort: 80, nodePort: 30083 }],
        },
        { loadBalancer: { ingress: [{ ip: LB_IP }] } },
      ),
      slice("lb", [b1]),
    ]);
    await eventually(
      () => reply(other, LB_IP, 80),
      (got) => got === b1.key,
    );
    assert.equal((await topo.probeDetail(allowed, LB_IP, 80, "tcp", 800)).ok, false);
  });
});
