// The dataplane driver with IP pools, every kernel piece faked: the tunnel
// device exists before the routes through it, its neighbour/FDB entries
// follow, and a mode switch takes the device and its entries away again.

import assert from "node:assert/strict";
import { test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { FakeTunnelLinks, type TunnelLinkState, type VxlanSpec } from "../../ifaces/tunnel-links.js";
import { TunnelReconciler } from "../../ifaces/tunnel-reconciler.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { IpsetSyncer } from "../../iptables/ipset-syncer.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { FakeNetlinkRoutes } from "../../routes/fake-netlink-routes.js";
import { NeighborReconciler } from "../../routes/neighbor-reconciler.js";
import { FakeNetlinkNeighbors } from "../../routes/netlink-neighbors.js";
import { RouteReconciler } from "../../routes/route-reconciler.js";
import { Dataplane } from "../../src/dataplane.js";
import { update } from "../calc-graph/fixtures.js";

/** One fake kernel: a device created through the links also exists for routes and neighbours. */
class Kernel extends FakeTunnelLinks {
  readonly routes = new FakeNetlinkRoutes();
  readonly neigh = new FakeNetlinkNeighbors();
  constructor() {
    super();
    this.addHost("eth0", 1500, "172.31.250.1/24");
    this.routes.addLink("eth0");
    this.routes.addAddress("eth0", "172.31.250.1/24");
  }
  reads = 0;
  override async list(): Promise<TunnelLinkState[]> {
    this.reads++;
    return super.list();
  }
  override async addVxlan(s: VxlanSpec): Promise<void> {
    await super.addVxlan(s);
    this.routes.addLink(s.name);
    this.neigh.addDevice(s.name);
  }
  override async delete(name: string): Promise<void> {
    await super.delete(name);
    this.routes.removeLink(name);
    this.neigh.removeDevice(name);
  }
}

const node = (n: number) =>
  update("Node", "", `node${n}`, {
    kind: "Node",
    metadata: {
      name: `node${n}`,
      annotations: {
        "projectcalico.org/IPv4Address": `172.31.250.${n}/24`,
        "projectcalico.org/IPv4VXLANTunnelAddr": `10.65.${n}.0`,
      },
    },
    spec: { podCIDR: `10.65.${n}.0/24` },
  });
const pool = (vxlanMode: string) =>
  update("IPPool", "", "p", { kind: "IPPool", metadata: { name: "p" }, spec: { cidr: "10.65.0.0/16", vxlanMode } });

test("tunnel first, then its routes and neighbour/FDB entries; switching to Never removes them", async () => {
  const k = new Kernel();
  const sets = new FakeIpsetBackend();
  const dp = new Dataplane({
    ipsets: new IpsetSyncer(sets),
    ipv4: new TableSyncer(new FakeIptablesBackend(4, "legacy", sets)),
    routes: new RouteReconciler(k.routes),
    tunnels: new TunnelReconciler(k),
    neighbors: new NeighborReconciler(k.neigh, ["vxlan.calico"]),
  });
  const g = new CalcGraph({ nodeName: "node1" });
  const r1 = await dp.apply(g.apply([node(1), node(2), pool("Always")]));
  assert.deepEqual(r1.warnings, []);
  const route = (await k.routes.list()).find((r) => r.dst === "10.65.2.0/24");
  assert.deepEqual([route?.dev, route?.gateway, route?.onlink], ["vxlan.calico", "10.65.2.0", true]);
  assert.equal((await k.neigh.listNeighbors("vxlan.calico"))[0]?.ip, "10.65.2.0");
  assert.equal((await k.neigh.listFdb("vxlan.calico"))[0]?.dst, "172.31.250.2");

  const r2 = await dp.apply(g.apply([pool("Never")]));
  assert.deepEqual(r2.warnings, []);
  assert.equal(await k.get("vxlan.calico"), undefined);
  const direct = (await k.routes.list()).find((r) => r.dst === "10.65.2.0/24");
  assert.deepEqual([direct?.dev, direct?.gateway, direct?.onlink], ["eth0", "172.31.250.2", undefined]);

  // No pools and a new pod interface: no tunnel work at all.
  await dp.apply(g.apply([{ ...pool("Never"), value: null }]));
  const reads = k.reads;
  dp.linksChanged();
  await dp.apply(g.current);
  assert.equal(k.reads, reads, "the tunnel reconciler was not consulted");
  dp.resync();
  await dp.apply(g.current);
  assert.equal(k.reads, reads + 1, "a resync checks for a stale tunnel");
});
