// Self-test of the kernel test topology (topology.ts): wiring, servers, probes and
// clean-up, with the agent's part done by wireLikeAgentForSelfTest. Needs root.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import {
  exec,
  hostSide,
  ipn,
  iptablesCmd,
  netnsOf,
  requirementsMissing,
  run,
  Topology,
  type TopoNode,
  type TopoPod,
} from "../../../src/netns/topology.js";
import { skipIf } from "../../helpers/skip.js";
import { wireLikeAgentForSelfTest } from "./wire-like-agent.js";

const skip = requirementsMissing();

async function netnsList(): Promise<string[]> {
  const out = (await run("ip", ["netns", "list"])).stdout;
  return out
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter(Boolean);
}

describe("e2e topology", { ...skipIf(skip), timeout: 30_000 }, () => {
  let topo: Topology;
  let n1: TopoNode;
  let n2: TopoNode;
  let xa: TopoPod;
  let xb: TopoPod;
  let ya: TopoPod;
  let yb: TopoPod;
  const t0 = performance.now();
  const timings: string[] = [];
  const lap = (what: string, since: number) => timings.push(`${what}: ${Math.round(performance.now() - since)} ms`);

  before(async () => {
    await Topology.cleanupStale("fx");
    const t = performance.now();
    topo = await Topology.create();
    [n1, n2] = await Promise.all([
      topo.addNode("node1", {
        underlayIp: "172.31.250.1",
        underlayIpv6: "fd00:fe11::1",
        podCIDR: "10.65.0.0/24",
        podCIDRv6: "fd00:65:0::/64",
      }),
      topo.addNode("node2", {
        underlayIp: "172.31.250.2",
        underlayIpv6: "fd00:fe11::2",
        podCIDR: "10.65.1.0/24",
        podCIDRv6: "fd00:65:1::/64",
      }),
    ]);
    [xa, xb, ya, yb] = await Promise.all([
      topo.addPod(n1, { namespace: "x", name: "a", ip: "10.65.0.2", ipv6: "fd00:65:0::2" }),
      topo.addPod(n1, { namespace: "x", name: "b", ip: "10.65.0.3" }),
      topo.addPod(n2, { namespace: "y", name: "a", ip: "10.65.1.2", ipv6: "fd00:65:1::2" }),
      topo.addPod(n2, { namespace: "y", name: "b", ip: "10.65.1.3" }),
    ]);
    lap("create 1 switch + 2 nodes + 4 pods with servers", t);
  });

  after(async () => {
    await topo?.destroy();
    lap("whole suite", t0);
    console.log(`# topology self-test timings (${topo?.prefix}):\n#   ${timings.join("\n#   ")}`);
  });

  it("names everything with the instance prefix and wires pods like Calico's CNI", async () => {
    assert.match(topo.prefix, /^fx[0-9a-f]{4}$/);
    const names = await netnsList();
    for (const e of [n1, n2, xa, xb, ya, yb]) {
      assert.ok(netnsOf(e).startsWith(`${topo.prefix}-`));
      assert.ok(names.includes(netnsOf(e)), `${netnsOf(e)} exists`);
    }
    assert.ok(names.includes(topo.switchNs));

    // Host side: cali + 11 hex of sha1("x.a"), MAC ee:ee:…, up, no IPv4 address, no route.
    assert.equal(xa.hostIface, hostSide("x", "a"));
    assert.equal(xa.hostIface, hostSide(xa));
    assert.match(xa.hostIface, /^cali[0-9a-f]{11}$/);
    const [link] = JSON.parse(await ipn(n1.netns, "-j", "addr", "show", "dev", xa.hostIface));
    assert.equal(link.address, "ee:ee:ee:ee:ee:ee");
    assert.ok(link.flags.includes("UP"));
    assert.deepEqual(
      link.addr_info.filter((a: { family: string }) => a.family === "inet"),
      [],
    );

    // Node: eth0 on the underlay, a default route, and no route to any pod.
    const nodeRoutes = await ipn(n1.netns, "route", "show");
    assert.match(nodeRoutes, /^default via 172\.31\.250\.254 dev eth0/m);
    assert.doesNotMatch(nodeRoutes, /10\.65\./);

    // Pod: eth0 <ip>/32 and the two routes via 169.254.1.1.
    const podAddrs = await ipn(xa.netns, "-4", "addr", "show", "dev", "eth0");
    assert.match(podAddrs, /inet 10\.65\.0\.2\/32 /);
    const podRoutes = await ipn(xa.netns, "route", "show");
    assert.match(podRoutes, /^default via 169\.254\.1\.1 dev eth0/m);
    assert.match(podRoutes, /^169\.254\.1\.1 dev eth0 scope link/m);
    assert.match(await ipn(xa.netns, "-6", "route", "show"), /default via fe80::ecee:eeff:feee:eeee dev eth0/);
  });

  it("has no pod connectivity before the agent's part is done (only a pod to itself)", async () => {
    const t = performance.now();
    const [self, sameNode, otherNode] = await Promise.all([
      topo.probe(xa, xa, 80, "tcp", 300),
      topo.probe(xa, xb, 80, "tcp", 300),
      topo.probe(xa, ya, 80, "udp", 300),
    ]);
    lap("3 probes before wiring (300 ms timeouts)", t);
    assert.equal(self, true);
    assert.equal(sameNode, false);
    assert.equal(otherNode, false);
  });

  it("connects all pods, TCP and UDP, within and across nodes, once wired", async () => {
    let t = performance.now();
    await wireLikeAgentForSelfTest(topo);
    lap("wireLikeAgentForSelfTest", t);
    t = performance.now();
    const pods = [xa, xb, ya, yb];
    const m = await topo.probeMatrix(
      pods,
      [
        { port: 80, protocol: "tcp" },
        { port: 81, protocol: "tcp" },
        { port: 80, protocol: "udp" },
        { port: 81, protocol: "udp" },
      ],
      { timeoutMs: 2000 },
    ); // x/a's neighbour entry for 169.254.1.1 may still wait for an ARP retransmit (see above)
    lap(`probeMatrix 4×4×4 = 64 probes (all succeed)`, t);
    const cmp = m.compare(() => true);
    assert.ok(cmp.ok, `${cmp.mismatches.join("\n")}\n${cmp.text}`);
    assert.equal(m.get(xa, yb, 81, "udp"), true);
    assert.equal(m.results["x/a"]!["y/b"]!["tcp/80"]!.reply, "y/b", "the server answers with its pod's name");
    assert.match(m.text, /^reachability tcp\/80:\n-\tx\/a\tx\/b\ty\/a\ty\/b\nx\/a\t\.\t\.\t\.\t\.$/m);

    const r = await topo.probeDetail(xb, ya.ip, 80, "udp");
    assert.deepEqual([r.ok, r.reply], [true, "y/a"]);
    // A port nobody listens on fails fast (refused), not by timeout.
    const refused = await topo.probeDetail(xa, yb, 9999, "tcp");
    assert.equal(refused.ok, false);
    assert.match(refused.error ?? "", /Refused/);
  });

  it("probes over IPv6 across nodes", async () => {
    assert.equal(await topo.probe(xa, ya.ipv6!, 80, "tcp"), true);
    assert.equal(await topo.probe(ya, xa.ipv6!, 81, "udp"), true);
  });

  it("probes from a node's own (host) namespace", async () => {
    assert.equal(await topo.probe(n1, xa, 80, "tcp"), true);
    assert.equal(await topo.probe(n1, ya, 81, "udp"), true);
  });

  it("observes the kernel: a FORWARD DROP on node2 for y/a cuts exactly y/a off", async () => {
    const ipt = iptablesCmd();
    await exec(n2.netns, ipt, "-I", "FORWARD", "-d", `${ya.ip}/32`, "-j", "DROP");
    const t = performance.now();
    const m = await topo.probeMatrix(
      [xa, xb, ya, yb],
      [
        { port: 80, protocol: "tcp" },
        { port: 80, protocol: "udp" },
      ],
      { timeoutMs: 500 },
    );
    lap("probeMatrix 4×4×2 with DROP (500 ms timeouts)", t);
    console.log(`# with DROP -d ${ya.ip} in ${n2.netns} FORWARD:\n${m.text.replace(/^/gm, "#   ")}`);
    // Requests to y/a and y/a's replies both cross node2's FORWARD with -d y/a: every pair
    // with y/a on exactly one end is blocked (y/a to itself stays on its loopback).
    const cmp = m.compare((c, s) => (c === "y/a") === (s === "y/a"));
    assert.ok(cmp.ok, `${cmp.mismatches.join("\n")}\n${cmp.text}`);

    await exec(n2.netns, ipt, "-D", "FORWARD", "-d", `${ya.ip}/32`, "-j", "DROP");
    assert.equal(await topo.probe(xa, ya, 80, "tcp"), true);
    assert.equal(await topo.probe(yb, ya, 80, "udp"), true);
  });

  it("removes a pod with its host-side interface", async () => {
    await topo.removePod(yb);
    const links = await ipn(n2.netns, "-o", "link", "show");
    assert.doesNotMatch(links, new RegExp(yb.hostIface));
    assert.ok(!(await netnsList()).includes(yb.netns));
    assert.equal(await topo.probe(xa, "10.65.1.3", 80, "tcp", 300), false);
  });

  it("cleanupStale removes namespaces of dead owners only", async () => {
    const stem = `zs${randomBytes(1).toString("hex")}`;
    const stale = `${stem}dead-n-node1`;
    await run("ip", ["netns", "add", stale]);
    writeFileSync(`/run/felix-ts-e2e/${stem}dead`, `${process.pid} 1\n`); // our pid, but another start time: reused
    const alive = await Topology.create({ stem });
    try {
      const removed = await Topology.cleanupStale(stem);
      assert.deepEqual(removed, [stale]);
      const names = await netnsList();
      assert.ok(!names.includes(stale));
      assert.ok(names.includes(alive.switchNs), "a live topology's namespaces survive");
    } finally {
      await alive.destroy();
      await run("ip", ["netns", "del", stale], { allowFail: true });
    }
  });

  it("destroy() removes every namespace and process it created", async () => {
    const t = performance.now();
    const pids = (await Promise.all(topo.netnsNames().map((ns) => run("ip", ["netns", "pids", ns]))))
      .flatMap((r) => r.stdout.split(/\s+/))
      .filter(Boolean)
      .map(Number);
    assert.ok(pids.length >= 4, "pod servers run inside the namespaces");
    await topo.destroy();
    lap("destroy", t);
    const left = (await netnsList()).filter((n) => n.startsWith(topo.prefix));
    assert.deepEqual(left, []);
    for (const pid of pids) {
      assert.throws(() => process.kill(pid, 0), /ESRCH/, `process ${pid} is gone`);
    }
    await topo.destroy(); // idempotent
  });
});
