// Stale UDP conntrack entries, end to end (iptables proxy mode): a client pod
// on node1 keeps asking a UDP ClusterIP from one source port, as a resolver
// asks its DNS service; the endpoint (a pod on node2) is replaced by another.
// The kernel's conntrack entry still DNATs the client's datagrams to the old
// endpoint (which is still up and answering) until felix deletes it; then the
// new endpoint answers. Without the cleanup the old one answers as long as
// the client keeps talking.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type Background,
  exec,
  requirementsMissing,
  Topology,
  type TopoNode,
  type TopoPod,
} from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { clusterManifests, daemonsReady, eventually, felixDaemon, ManifestDir, stopDaemons } from "./cluster.js";
import { TEST_PROXYMODE, tableText } from "./dataplane-mode.js";

const skip = requirementsMissing();
const CLUSTER_IP = "10.96.0.53";
const SOURCE_PORT = 40053;

/** One datagram from `sport` (the same conntrack tuple every time); the reply, or "!timeout". */
const ASK = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[3])))
s.settimeout(0.5)
s.sendto(b"q", (sys.argv[1], int(sys.argv[2])))
try:
    print(s.recv(512).decode().strip())
except Exception as e:
    print("!" + type(e).__name__)
`;

function manifests(
  backend: TopoPod,
  name = "dns",
  clusterIP = CLUSTER_IP,
  labels: Record<string, string> = {},
): object[] {
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: "svc", labels },
      spec: { clusterIP, ports: [{ name: "dns", port: 53, targetPort: 80, protocol: "UDP" }] },
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${name}-1`, namespace: "svc", labels: { ...labels, "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: "dns", port: 80, protocol: "UDP" }],
      endpoints: [{ addresses: [backend.ip], nodeName: backend.node.name, conditions: { ready: true } }],
    },
  ];
}

describe(`stale UDP conntrack entries of a service (${TEST_PROXYMODE} proxy mode)`, skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let n1: TopoNode;
  let n2: TopoNode;
  let client: TopoPod;
  let oldEp: TopoPod;
  let newEp: TopoPod;
  const daemons: Background[] = [];

  const ask = async (ip = CLUSTER_IP, sport = SOURCE_PORT) =>
    (await exec(client.netns, "python3", "-c", ASK, ip, "53", String(sport))).trim();

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" });
    n2 = await topo.addNode("node2", { underlayIp: "172.31.250.2", podCIDR: "10.65.2.0/24" });
    client = await topo.addPod(n1, { namespace: "x", name: "client", ip: "10.65.1.2" });
    oldEp = await topo.addPod(n2, { namespace: "svc", name: "dns-old", ip: "10.65.2.10" });
    newEp = await topo.addPod(n2, { namespace: "svc", name: "dns-new", ip: "10.65.2.11" });
    dir = new ManifestDir();
    dir.write("cluster.yaml", clusterManifests(topo));
    dir.write("dns.yaml", manifests(oldEp));
    for (const n of [n1, n2]) daemons.push(felixDaemon(topo, dir.path, n, { FELIX_PROXYMODE: TEST_PROXYMODE }));
    await daemonsReady(daemons, ask, (r) => r === oldEp.key);
  });

  after(() => stopDaemons(daemons, topo, [n1, n2], dir));

  test("the endpoint is replaced while the client keeps talking: the new endpoint answers, the old entry is gone", async () => {
    // The flow is established and answered by the old endpoint.
    assert.equal(await ask(), oldEp.key);
    const listed = await exec(n1.netns, "conntrack", "-L", "-p", "udp", "--orig-dst", CLUSTER_IP);
    assert.match(listed, new RegExp(`sport=${SOURCE_PORT} dport=53 .*src=${oldEp.ip.replace(/\./g, "\\.")} `));

    dir.write("dns.yaml", manifests(newEp));
    // The old endpoint still runs and would answer: only the cleanup moves the flow.
    const { value, ms } = await eventually(ask, (r) => r === newEp.key, 10_000, 50).catch((e: Error) => {
      throw new Error(`${e.message}\nnode1 daemon:\n${daemons[0].output().slice(-3000)}`);
    });
    assert.equal(value, newEp.key);
    const after = await exec(n1.netns, "conntrack", "-L", "-p", "udp", "--orig-dst", CLUSTER_IP);
    assert.doesNotMatch(after, new RegExp(`src=${oldEp.ip.replace(/\./g, "\\.")} `), after);
    assert.match(daemons[0].output(), /"udpFlowsDeleted":1/);
    console.log(`# stale UDP flow moved to the new endpoint ${ms.toFixed(0)} ms after the slice was written (polled)`);
  });

  test("coexistence: a Service labelled service.kubernetes.io/service-proxy-name gets no rules until the label goes", async () => {
    const OTHER_IP = "10.96.0.54";
    dir.write(
      "other.yaml",
      manifests(newEp, "other", OTHER_IP, { "service.kubernetes.io/service-proxy-name": "other-proxy" }),
    );
    // The unlabelled control is programmed from the same batch on: wait for it, then look.
    dir.write("control.yaml", manifests(newEp, "control", "10.96.0.55"));
    await eventually(
      () => ask("10.96.0.55", 40055),
      (r) => r === newEp.key,
    );
    const unanswered = await ask(OTHER_IP, 40054);
    assert.ok(unanswered.startsWith("!"), `another proxy's service answered through felix's rules: ${unanswered}`);
    const nat = await tableText(n1.netns, "nat");
    assert.match(nat, /10\.96\.0\.55/, "the control is programmed (the read sees services)");
    assert.doesNotMatch(nat, /10\.96\.0\.54/);
    dir.write("other.yaml", manifests(newEp, "other", OTHER_IP));
    await eventually(
      () => ask(OTHER_IP, 40056),
      (r) => r === newEp.key,
    );
  });
});
