// End to end, IP reuse with the real kernel (issue 13 item 4): a pod is
// deleted and a new pod gets its address on another veth, under a policy that
// denies the old pod's peer. The old peer's established UDP flow must not
// survive into the new pod: the watching daemon deletes the address's
// conntrack entries before the new route, so the next packet is NEW and
// meets the new pod's policy. The verdict is the kernel's: a reply or none.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { findConntrack } from "../../routes/conntrack.js";
import {
  exec,
  pythonPath,
  requirementsMissing,
  run,
  Topology,
  type TopoNode,
  type TopoPod,
} from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { eventually, felixDaemon, ManifestDir, nodeManifest, podManifest } from "./cluster.js";
import { chainNames } from "./dataplane-mode.js";

const skip = requirementsMissing() ?? (findConntrack() ? undefined : "IP reuse e2e needs conntrack (conntrack-tools)");
const REUSED = "10.65.1.20";
const SPORT = 40000;

/** One UDP datagram from `from`'s fixed source port to ip:81; the server's reply, or undefined. */
async function udpFrom(from: TopoPod, ip: string): Promise<string | undefined> {
  const py = [
    "import socket",
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
    `s.bind(('0.0.0.0', ${SPORT}))`,
    "s.settimeout(1.0)",
    `s.sendto(b'ping', ('${ip}', 81))`,
    "print(s.recvfrom(512)[0].decode())",
  ].join("\n");
  const r = await run("ip", ["netns", "exec", from.netns, pythonPath() ?? "python3", "-c", py], { allowFail: true });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** The node's conntrack entries that mention `ip`. */
async function entriesOf(node: TopoNode, ip: string): Promise<string[]> {
  const r = await run("ip", ["netns", "exec", node.netns, "conntrack", "-L"], { allowFail: true });
  return r.stdout.split("\n").filter((l) => l.includes(`=${ip} `));
}

describe("IP reuse end to end", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let n1: TopoNode;
  let client: TopoPod;

  function write(pods: TopoPod[], denyNew: boolean): void {
    const docs: object[] = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } }, nodeManifest(n1)];
    for (const p of pods) docs.push(podManifest(p));
    if (denyNew) {
      docs.push({
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "deny-to-new", namespace: "x" },
        spec: { podSelector: { matchLabels: { role: "new" } }, policyTypes: ["Ingress"] },
      });
    }
    dir.write("cluster.yaml", docs);
  }

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" });
    client = await topo.addPod(n1, { namespace: "x", name: "client", ip: "10.65.1.10" });
    dir = new ManifestDir();
  });

  after(async () => {
    await topo?.destroy();
    dir?.destroy();
  });

  test("a deleted pod's established UDP flow does not reach the new pod that gets its address", async () => {
    const old = await topo.addPod(n1, { namespace: "x", name: "old", ip: REUSED });
    write([client, old], true);
    const daemon = felixDaemon(topo, dir.path, n1, { FELIX_IPTABLESREFRESHINTERVAL: "600" });
    try {
      await eventually(
        async () => daemon.output(),
        (o) => o.includes('"datastore in sync"'),
      );
      const first = await eventually(
        () => udpFrom(client, REUSED),
        (r) => r !== undefined,
        10_000,
        200,
      );
      assert.match(first.value ?? "", /^x\/old/, "the flow to the old pod is up");
      assert.ok((await entriesOf(n1, REUSED)).length > 0, "and tracked");

      // The old pod goes (CNI DEL), a new pod gets its address on another veth; its policy denies everyone.
      await topo.removePod(old);
      const fresh = await topo.addPod(n1, { namespace: "x", name: "new", ip: REUSED, labels: { role: "new" } });
      write([client, fresh], true);
      await eventually(
        () => exec(n1.netns, "ip", "route", "show", REUSED),
        (r) => r.includes(fresh.hostIface),
      );
      await eventually(
        () => chainNames(n1.netns, "filter"),
        (names) => names.includes(`cali-tw-${fresh.hostIface}`),
      );
      // The same 5-tuple again: without the cleanup it would be ESTABLISHED and reach the new pod.
      for (let i = 0; i < 3; i++) {
        const r = await udpFrom(client, REUSED);
        assert.equal(r, undefined, `the old flow reached the new pod (${r}): its conntrack entry survived`);
      }
      assert.deepEqual(
        (await entriesOf(n1, REUSED)).filter((l) => !l.includes("UNREPLIED")),
        [],
        "no replied entry for the reused address",
      );
      assert.match(daemon.output(), /"datastore in sync"/);
    } finally {
      await daemon.kill();
    }
  });

  test("a terminating pod whose address Calico CNI released takes its conntrack entries with it", async () => {
    const gone = await topo.addPod(n1, { namespace: "x", name: "gone", ip: "10.65.1.30" });
    write([client, gone], false);
    const daemon = felixDaemon(topo, dir.path, n1, { FELIX_IPTABLESREFRESHINTERVAL: "600" });
    try {
      await eventually(
        () => udpFrom(client, gone.ip),
        (r) => r !== undefined,
        10_000,
        200,
      );
      assert.ok((await entriesOf(n1, gone.ip)).length > 0);
      // Terminating, CNI has released the address (podIP annotation ""): the status still shows the IP
      // and the veth still exists, but the address is no longer the pod's.
      const released = podManifest(gone) as { metadata: Record<string, unknown> };
      released.metadata.deletionTimestamp = "2026-01-01T00:00:00Z";
      released.metadata.annotations = { "cni.projectcalico.org/podIP": "" };
      dir.write("cluster.yaml", [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } },
        nodeManifest(n1),
        podManifest(client),
        released,
      ]);
      await eventually(
        () => entriesOf(n1, gone.ip),
        (e) => e.length === 0,
      );
      // The flows go just before the route, in the same apply (src/dataplane.ts): wait for the route too.
      await eventually(
        () => exec(n1.netns, "ip", "route", "show", gone.ip),
        (r) => r === "",
      );
      assert.equal(await udpFrom(client, gone.ip), undefined, "nothing reaches it any more");
      await topo.removePod(gone);
    } finally {
      await daemon.kill();
    }
  });
});
