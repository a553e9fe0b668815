// Tunnel devices and their neighbour/FDB entries: the reconcilers against
// fakes (including a kernel without IPIP) and, as root, against the real
// kernel in a throwaway namespace (VXLAN for real).

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { TunnelDevice } from "../../ifaces/tunnel.js";
import { FakeTunnelLinks } from "../../ifaces/tunnel-links.js";
import { TunnelReconciler } from "../../ifaces/tunnel-reconciler.js";
import { FakeNetlinkRoutes } from "../../routes/fake-netlink-routes.js";
import { NeighborReconciler } from "../../routes/neighbor-reconciler.js";
import { FakeNetlinkNeighbors } from "../../routes/netlink-neighbors.js";
import { RouteReconciler } from "../../routes/route-reconciler.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason, runInNetns } from "../routes/netns.js";

const vxlan: TunnelDevice = {
  name: "vxlan.calico",
  kind: "vxlan",
  address: "10.244.1.0",
  vni: 4096,
  port: 4789,
  localIp: "172.31.250.1",
  mac: "66:00:00:00:00:01",
};
const tunl0: TunnelDevice = { name: "tunl0", kind: "ipip", address: "10.244.1.1" };
const mtuOf = (o: { vxlan?: boolean; ipip?: boolean; vxlanMtu?: number }) => ({
  vxlan: false,
  ipip: false,
  ifacePattern: "^eth",
  ...o,
});

describe("tunnel reconciler (fake links)", () => {
  test("creates vxlan.calico on the device holding the node address, MTU = host - 50, then converges to no writes", async () => {
    const links = new FakeTunnelLinks();
    links.addHost("eth0", 1500, "172.31.250.1/24");
    links.addHost("eth1", 9000, "192.168.9.1/24");
    const mtuFile = join(mkdtempSync(join(tmpdir(), "felix-mtu-")), "sub", "mtu");
    const r = new TunnelReconciler(links, { mtuFile });
    r.setDesired({ poolsInUse: true, tunnels: { "vxlan.calico": vxlan }, mtu: mtuOf({ vxlan: true }) });
    const first = await r.apply();
    assert.deepEqual(first.warnings, []);
    assert.equal(first.mtu.podMtu, 1450);
    const dev = await links.get("vxlan.calico");
    assert.deepEqual(
      { parent: dev?.parent, mtu: dev?.mtu, mac: dev?.mac, learning: dev?.learning, addrs: dev?.addrs },
      { parent: "eth0", mtu: 1450, mac: "66:00:00:00:00:01", learning: false, addrs: ["10.244.1.0/32"] },
    );
    assert.equal(readFileSync(mtuFile, "utf8"), "1450");
    const second = await r.apply();
    assert.equal(second.changes, 0, `no writes the second time: ${links.ops.join("; ")}`);
    // A configured MTU is set in place; a new VNI re-creates the device.
    r.setDesired({
      poolsInUse: true,
      tunnels: { "vxlan.calico": { ...vxlan, mtu: 1400 } },
      mtu: mtuOf({ vxlan: true, vxlanMtu: 1400 }),
    });
    links.ops.length = 0;
    await r.apply();
    assert.deepEqual(links.ops, ["mtu vxlan.calico 1400"]);
    assert.equal(readFileSync(mtuFile, "utf8"), "1400");
    r.setDesired({
      poolsInUse: true,
      tunnels: { "vxlan.calico": { ...vxlan, vni: 5000 } },
      mtu: mtuOf({ vxlan: true }),
    });
    links.ops.length = 0;
    await r.apply();
    assert.equal(links.ops[0], "del vxlan.calico");
    assert.equal((await links.get("vxlan.calico"))?.vni, 5000);
    // No longer wanted: deleted; the MTU file follows the host MTU.
    r.setDesired({ poolsInUse: true, tunnels: {}, mtu: mtuOf({}) });
    await r.apply();
    assert.equal(await links.get("vxlan.calico"), undefined);
    assert.equal(readFileSync(mtuFile, "utf8"), "1500");
  });

  test("one device dump per apply answers the host MTU, the VXLAN parent and every tunnel device; a failed dump falls back to asking each", async () => {
    const links = new FakeTunnelLinks();
    links.addHost("eth0", 1500, "172.31.250.1/24");
    const r = new TunnelReconciler(links, {});
    r.setDesired({ poolsInUse: true, tunnels: { "vxlan.calico": vxlan }, mtu: mtuOf({ vxlan: true }) });
    // Every question asked of the links on its own (not through the dump), by method.
    const asked: string[] = [];
    for (const m of ["get", "smallestMtu", "deviceWithAddress"] as const) {
      const f = links[m].bind(links) as (a: string) => Promise<unknown>;
      const spy = (a: string) => {
        asked.push(m);
        return f(a);
      };
      Object.assign(links, { [m]: spy });
    }
    await r.apply();
    assert.deepEqual([links.dumps, asked], [1, ["get"]], "one dump; one read of the device just created");
    asked.length = 0;
    assert.equal((await r.apply()).changes, 0);
    assert.deepEqual([links.dumps, asked], [2, []], "in sync: one dump, nothing asked on its own");
    links.list = () => Promise.reject(new Error("dump refused"));
    const third = await r.apply();
    assert.deepEqual([third.changes, third.warnings], [0, []], "still in sync");
    assert.deepEqual(asked, ["smallestMtu", "get", "deviceWithAddress", "get", "get"], "each asked on its own");
  });

  test("the node address on no device: vxlan.calico waits with a warning", async () => {
    const links = new FakeTunnelLinks();
    links.addHost("eth0", 1500, "172.31.250.9/24");
    const r = new TunnelReconciler(links);
    r.setDesired({ poolsInUse: true, tunnels: { "vxlan.calico": vxlan }, mtu: mtuOf({ vxlan: true }) });
    const res = await r.apply();
    assert.match(res.warnings.join("\n"), /vxlan\.calico waits: no device holds the node address 172\.31\.250\.1/);
    assert.equal(await links.get("vxlan.calico"), undefined);
  });

  test("IPIP: tunl0 created, MTU host - 20, tunnel address; a kernel without IPIP gives a warning; unwanted: only its address goes", async () => {
    const links = new FakeTunnelLinks();
    links.addHost("eth0", 1500, "172.31.250.1/24");
    const r = new TunnelReconciler(links);
    r.setDesired({ poolsInUse: true, tunnels: { tunl0 }, mtu: mtuOf({ ipip: true }) });
    const res = await r.apply();
    assert.equal(res.mtu.podMtu, 1480);
    const t = await links.get("tunl0");
    assert.deepEqual({ mtu: t?.mtu, up: t?.up, addrs: t?.addrs }, { mtu: 1480, up: true, addrs: ["10.244.1.1/32"] });
    r.setDesired({ poolsInUse: true, tunnels: {}, mtu: mtuOf({}) });
    await r.apply();
    assert.deepEqual((await links.get("tunl0"))?.addrs, [], "tunl0 stays, without address");

    const noIpip = new FakeTunnelLinks({ ipipSupported: false });
    noIpip.addHost("eth0", 1500, "172.31.250.1/24");
    const r2 = new TunnelReconciler(noIpip);
    r2.setDesired({ poolsInUse: true, tunnels: { tunl0 }, mtu: mtuOf({ ipip: true }) });
    assert.match((await r2.apply()).warnings.join("\n"), /create tunl0: .*not supported/);
  });

  test("IPIP routes through a fake kernel: onlink via the node address on tunl0", async () => {
    const nl = new FakeNetlinkRoutes();
    nl.addLink("eth0");
    nl.addAddress("eth0", "172.31.250.1/24");
    const routes = new RouteReconciler(nl);
    const route = {
      dst: "10.244.3.0/24",
      kind: "remote-block" as const,
      type: "unicast" as const,
      gateway: "172.31.251.3",
      dev: "tunl0",
      onlink: true,
      scope: "universe" as const,
    };
    routes.setDesired({ r: route });
    const waiting = await routes.apply();
    assert.deepEqual(
      waiting.pending.map((p) => p.reason),
      ["device-missing"],
    );
    nl.addLink("tunl0");
    const done = await routes.apply();
    assert.deepEqual(done.added, ["10.244.3.0/24"], "onlink: the gateway need not be on a connected route");
    assert.equal((await nl.list())[0].onlink, true);
    assert.equal((await routes.apply()).unchanged, 1);
  });
});

describe("neighbour reconciler (fake)", () => {
  test("writes missing entries, replaces changed ones, deletes stale ones, waits for the device", async () => {
    const nl = new FakeNetlinkNeighbors();
    const r = new NeighborReconciler(nl, ["vxlan.calico"]);
    const n = { dev: "vxlan.calico", ip: "10.244.2.0", mac: "66:00:00:00:00:02" };
    const f = { dev: "vxlan.calico", mac: "66:00:00:00:00:02", dst: "172.31.250.2" };
    r.setDesired({ a: n, other: { ...n, dev: "eth0" } }, { a: f });
    assert.deepEqual((await r.apply()).pendingDevices, ["vxlan.calico"]);
    nl.addDevice("vxlan.calico");
    assert.equal((await r.apply()).written, 2);
    assert.equal((await r.apply()).written, 0, "converged");
    r.setDesired({ a: { ...n, mac: "66:00:00:00:00:09" } }, { a: { ...f, mac: "66:00:00:00:00:09" } });
    nl.ops.length = 0;
    const res = await r.apply();
    assert.deepEqual(nl.ops, [
      "neigh replace 10.244.2.0 66:00:00:00:00:09 dev vxlan.calico",
      "fdb del 66:00:00:00:00:02 dst 172.31.250.2 dev vxlan.calico",
      "fdb replace 66:00:00:00:00:09 dst 172.31.250.2 dev vxlan.calico",
    ]);
    assert.deepEqual([res.written, res.removed], [2, 1]);
    r.setDesired({}, {});
    assert.equal((await r.apply()).removed, 2);
    assert.deepEqual(await nl.listNeighbors("vxlan.calico"), []);
  });
});

const skip = netnsSkipReason();
test("real kernel: vxlan.calico, an onlink route through it, neighbour and FDB entries, re-create and removal", {
  ...skipIf(skip),
}, async () => {
  const ns = createNetns("fxtun");
  try {
    const here = dirname(fileURLToPath(import.meta.url));
    const run = await runInNetns(ns, join(here, "tunnel-child.js"), "tunnels");
    assert.equal(run.code, 0, run.stderr);
    // biome-ignore lint/suspicious/noExplicitAny: JSON written by the child process
    const r = run.result as Record<string, any>;
    assert.deepEqual(r.first.warnings, []);
    assert.equal(r.second.changes, 0, "second apply writes nothing");
    const info = r.link.linkinfo.info_data;
    assert.deepEqual(
      [r.link.linkinfo.info_kind, info.id, info.port, info.local, info.link, info.learning, r.link.mtu, r.link.address],
      ["vxlan", 4096, 4789, "172.31.250.1", "eth0", false, 1350, "66:00:00:00:00:01"],
    );
    assert.ok(r.link.flags.includes("UP"));
    assert.deepEqual(
      r.link.addr_info.filter((a: { family: string }) => a.family === "inet").map((a: { local: string }) => a.local),
      ["10.244.1.0"],
    );
    assert.deepEqual(r.many.names, ["vxlan.calico"], "the dump holds only our devices that exist");
    assert.deepEqual(r.many.vxlan, r.many.get, "one dump reads what a read of the device reads");
    assert.deepEqual(r.many.mtu, [1400, 1400], "the dump gives the host MTU that `ip link` gives");
    assert.equal(r.mtuFile, "1350", "pod MTU = eth0's 1400 - 50");
    assert.deepEqual(r.routes1.added, ["10.244.2.0/24"]);
    assert.equal(r.routes2.unchanged, 1);
    assert.match(r.ipRoute, /^10\.244\.2\.0\/24 via 10\.244\.2\.0 dev vxlan\.calico proto 80 onlink/m);
    assert.equal(r.neigh1.written, 4);
    assert.deepEqual(
      [r.neigh2.written, r.neigh2.removed],
      [1, 3],
      "node3's two entries and node2's old FDB destination",
    );
    assert.deepEqual([r.neigh3.written, r.neigh3.removed], [0, 0]);
    assert.equal(r.ipNeigh.trim(), "10.244.2.0 lladdr 66:00:00:00:00:02 PERMANENT");
    assert.match(r.fdb, /^66:00:00:00:00:02 dst 172\.31\.250\.22 self permanent$/m);
    assert.doesNotMatch(r.fdb, /66:00:00:00:00:03/);
    assert.equal(r.vni, 4097);
    assert.doesNotMatch(r.after, /vxlan\.calico/);
    console.log(`# ipip on this kernel: ${JSON.stringify(r.ipip.warnings)}`);
  } finally {
    deleteNetns(ns);
  }
});
