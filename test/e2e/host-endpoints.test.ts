// End to end, host endpoints and failsafes with the real kernel: node1's
// eth0 gets a HostEndpoint with no policy. Felix's default for such an
// endpoint is deny, except the failsafe ports, so the node is never cut off
// from SSH, the API server, BGP, etcd, DHCP, DNS. Verdicts are real
// connections between node namespaces over the underlay; forwarded pod
// traffic through eth0 keeps flowing (no applyOnForward policy).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { requirementsMissing, Topology, type TopoNode, type TopoPod } from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { felixOnce, ManifestDir, nodeManifest, podManifest } from "./cluster.js";
import { chainNames } from "./dataplane-mode.js";

const skip = requirementsMissing();

describe("host endpoints and failsafes end to end", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let n1: TopoNode;
  let n2: TopoNode;
  let pod1: TopoPod;
  let pod2: TopoPod;

  function write(hep: Record<string, unknown> | undefined, vxlan = false, extra: object[] = []): void {
    const node = (n: TopoNode, i: number) =>
      vxlan
        ? nodeManifest(n, {
            "projectcalico.org/IPv4Address": `${n.underlayIp}/${n.underlayPrefixLength}`,
            "projectcalico.org/IPv4VXLANTunnelAddr": `10.65.${i}.0`,
          })
        : nodeManifest(n);
    const docs: object[] = [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } },
      node(n1, 1),
      node(n2, 2),
      podManifest(pod1),
      podManifest(pod2),
    ];
    if (vxlan) {
      docs.push({
        apiVersion: "projectcalico.org/v3",
        kind: "IPPool",
        metadata: { name: "default-ipv4-ippool" },
        spec: { cidr: "10.65.0.0/16", blockSize: 24, vxlanMode: "Always" },
      });
    }
    if (hep) {
      docs.push({
        apiVersion: "projectcalico.org/v3",
        kind: "HostEndpoint",
        metadata: { name: "node1-eth0", labels: { "host-endpoint": "ingress" } },
        spec: { node: "node1", interfaceName: "eth0", expectedIPs: [n1.underlayIp], ...hep },
      });
    }
    dir.write("cluster.yaml", [...docs, ...extra]);
  }

  async function program(env: NodeJS.ProcessEnv = {}): Promise<void> {
    for (const n of [n1, n2]) {
      const [r] = await felixOnce(topo, dir.path, [n], env);
      assert.equal(r.code, 0, r.output);
    }
  }

  /** Which of these connections to `to` succeed, as `proto/port` → boolean (all at once: a blocked one waits 1 s). */
  async function reach(from: TopoNode | TopoPod, to: string, ports: [string, number][]) {
    const ok = await Promise.all(ports.map(([proto, port]) => topo.probe(from, to, port, proto as "tcp")));
    return Object.fromEntries(ports.map(([proto, port], i) => [`${proto}/${port}`, ok[i]!]));
  }

  before(async () => {
    topo = await Topology.create({ stem: "fxh" });
    // node1 serves the failsafe ports Felix defaults to, and one that is not failsafe (80).
    n1 = await topo.addNode("node1", {
      underlayIp: "172.31.250.1",
      podCIDR: "10.65.1.0/24",
      servers: { tcp: [22, 80, 81, 179, 6443], udp: [68, 80] },
    });
    n2 = await topo.addNode("node2", {
      underlayIp: "172.31.250.2",
      podCIDR: "10.65.2.0/24",
      servers: { tcp: [80, 6443], udp: [53, 80] },
    });
    pod1 = await topo.addPod(n1, { namespace: "x", name: "a", ip: "10.65.1.2" });
    pod2 = await topo.addPod(n2, { namespace: "x", name: "b", ip: "10.65.2.2" });
    dir = new ManifestDir();
  });

  after(async () => {
    await topo?.destroy();
    dir?.destroy();
  });

  const inbound: [string, number][] = [
    ["tcp", 22],
    ["tcp", 179],
    ["tcp", 6443],
    ["udp", 68],
    ["tcp", 80],
    ["udp", 80],
  ];

  test("no host endpoint: everything reaches node1", async () => {
    write(undefined);
    await program();
    const r = await reach(n2, n1.underlayIp, inbound);
    assert.deepEqual(r, {
      "tcp/22": true,
      "tcp/179": true,
      "tcp/6443": true,
      "udp/68": true,
      "tcp/80": true,
      "udp/80": true,
    });
  });

  test("a host endpoint on eth0 with no policy: traffic to tcp/80 and udp/80 is dropped both ways, the failsafe ports still connect (SSH, BGP, API server, DHCP in; DNS, API server out); pods still reach node1 and each other through eth0", async () => {
    write({});
    await program();
    assert.deepEqual(await reach(n2, n1.underlayIp, inbound), {
      "tcp/22": true,
      "tcp/179": true,
      "tcp/6443": true,
      "udp/68": true,
      "tcp/80": false,
      "udp/80": false,
    });
    assert.deepEqual(
      await reach(n1, n2.underlayIp, [
        ["udp", 53],
        ["tcp", 6443],
        ["tcp", 80],
        ["udp", 80],
      ]),
      { "udp/53": true, "tcp/6443": true, "tcp/80": false, "udp/80": false },
      "outbound from node1: failsafe out only",
    );
    // Workload traffic is not host endpoint traffic: a local pod reaches its host (cali-wl-to-host), and
    // a remote pod's traffic forwarded in through eth0 is allowed by default (no applyOnForward policy).
    assert.equal(await topo.probe(pod1, n1.underlayIp, 80, "tcp"), true, "pod → its own node");
    assert.equal(await topo.probe(pod2, pod1, 80, "tcp"), true, "pod on node2 → pod on node1 through eth0");
    assert.equal(await topo.probe(pod1, pod2, 80, "tcp"), true, "and back out through eth0");
  });

  test("placed by expectedIPs alone (no interfaceName): the interface carrying node1's address (eth0) is policed", async () => {
    write({ interfaceName: "" });
    await program();
    assert.equal(await topo.probe(n2, n1.underlayIp, 80, "tcp"), false);
    assert.equal(await topo.probe(n2, n1.underlayIp, 22, "tcp"), true);
  });

  test("the endpoint with Calico's projectcalico-default-allow profile: everything connects again", async () => {
    write({ profiles: ["projectcalico-default-allow"] });
    await program();
    assert.equal(await topo.probe(n2, n1.underlayIp, 80, "tcp"), true);
    assert.equal(await topo.probe(n1, n2.underlayIp, 80, "tcp"), true);
  });

  test("FELIX_FAILSAFEINBOUNDHOSTPORTS replaces the defaults: tcp/80 becomes failsafe, SSH no longer is", async () => {
    write({});
    await program({ FELIX_FAILSAFEINBOUNDHOSTPORTS: "tcp:80", FELIX_FAILSAFEOUTBOUNDHOSTPORTS: "none" });
    assert.deepEqual(
      await reach(n2, n1.underlayIp, [
        ["tcp", 80],
        ["tcp", 22],
      ]),
      { "tcp/80": true, "tcp/22": false },
    );
    assert.equal(await topo.probe(n1, n2.underlayIp, 53, "udp"), false, "no outbound failsafe: DNS out is dropped");
  });

  test("VXLAN overlay with the deny-all host endpoint on eth0: pod traffic between the nodes still flows (cali-OUTPUT accepts this host's VXLAN to the other VTEPs before the endpoint's egress policy)", async () => {
    write({}, true);
    await program();
    assert.equal(await topo.probe(n2, n1.underlayIp, 80, "tcp"), false, "the host endpoint is in force");
    assert.equal(await topo.probe(pod2, pod1, 80, "tcp"), true, "pod on node2 → pod on node1 over VXLAN");
    assert.equal(await topo.probe(pod1, pod2, 80, "tcp"), true, "and the other way");
  });

  test("Calico GlobalNetworkPolicies on the endpoint, through the agent: a normal Allow of tcp/80-81 from node2, a preDNAT Deny of tcp/81 that wins over it, a doNotTrack Allow of udp/80 (and udp back), the rest dropped", async () => {
    const gnp = (name: string, spec: object) => ({
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalNetworkPolicy",
      metadata: { name },
      spec: { selector: "host-endpoint == 'ingress'", ...spec },
    });
    const node2 = { nets: [`${n2.underlayIp}/32`] };
    write({}, false, [
      gnp("host-allow", {
        ingress: [{ action: "Allow", protocol: "TCP", source: node2, destination: { ports: ["80:81"] } }],
      }),
      gnp("host-prednat", {
        applyOnForward: true,
        preDNAT: true,
        ingress: [{ action: "Deny", protocol: "TCP", destination: { ports: [81] } }],
      }),
      gnp("host-untracked", {
        applyOnForward: true,
        doNotTrack: true,
        ingress: [{ action: "Allow", protocol: "UDP", source: node2, destination: { ports: [80] } }],
        egress: [{ action: "Allow", protocol: "UDP", destination: node2 }],
      }),
    ]);
    await program();
    assert.deepEqual(
      await reach(n2, n1.underlayIp, [
        ["tcp", 22],
        ["tcp", 80],
        ["tcp", 81],
        ["udp", 80],
        ["tcp", 179],
      ]),
      { "tcp/22": true, "tcp/80": true, "tcp/81": false, "udp/80": true, "tcp/179": true },
    );
  });

  test("the host endpoint removed: the plumbing goes and everything connects", async () => {
    write(undefined);
    await program();
    assert.deepEqual(
      await reach(n2, n1.underlayIp, [
        ["tcp", 80],
        ["udp", 80],
      ]),
      { "tcp/80": true, "udp/80": true },
    );
    assert.equal(await topo.probe(n1, n2.underlayIp, 80, "tcp"), true);
    for (const table of ["raw", "mangle", "filter"]) {
      const chains = await chainNames(n1.netns, table);
      assert.ok(chains.includes("cali-FORWARD") || table !== "filter", `our ${table} chains are read: ${chains}`);
      for (const gone of ["cali-failsafe-in", "cali-from-host-endpoint", "cali-fh-eth0"]) {
        assert.ok(!chains.includes(gone), `${table} ${gone} left in the kernel: ${chains}`);
      }
    }
    // Its chain goes with the hook rule that jumps to it (a chain still referenced cannot be deleted).
    assert.ok(!(await chainNames(n1.netns, "mangle")).includes("cali-POSTROUTING"), "mangle POSTROUTING hook left");
  });
});
