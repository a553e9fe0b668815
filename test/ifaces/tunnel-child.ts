// Child process for the real-kernel tunnel test: runs inside a throwaway
// namespace with an "eth0" holding 172.31.250.1/24, drives the tunnel,
// route and neighbour reconcilers, and prints `RESULT {json}` with what
// iproute2 then shows. Does nothing unless FELIX_NETNS_CHILD=tunnels.

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IpTunnelLinks, smallestUpMtu } from "../../ifaces/tunnel-links.js";
import { TunnelReconciler } from "../../ifaces/tunnel-reconciler.js";
import { NeighborReconciler } from "../../routes/neighbor-reconciler.js";
import { KernelNetlinkNeighbors } from "../../routes/netlink-neighbors.js";
import { KernelNetlinkRoutes } from "../../routes/netlink-routes.js";
import { RouteReconciler } from "../../routes/route-reconciler.js";
import { sh } from "../routes/netns.js";

const ip = (...args: string[]) => sh("ip", args);

async function main(): Promise<void> {
  const out: Record<string, unknown> = {};
  ip("link", "set", "lo", "up");
  ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0p");
  ip("link", "set", "eth0", "mtu", "1400");
  ip("addr", "add", "172.31.250.1/24", "dev", "eth0");
  ip("link", "set", "eth0", "up");
  ip("link", "set", "eth0p", "up");
  const mtuFile = join(mkdtempSync(join(tmpdir(), "felix-mtu-")), "mtu");
  const tunnels = new TunnelReconciler(new IpTunnelLinks(), { mtuFile });
  const vxlan = {
    name: "vxlan.calico",
    kind: "vxlan" as const,
    address: "10.244.1.0",
    vni: 4096,
    port: 4789,
    localIp: "172.31.250.1",
    mac: "66:00:00:00:00:01",
  };
  const mtu = { vxlan: true, ipip: false, ifacePattern: "^eth" };
  tunnels.setDesired({ poolsInUse: true, tunnels: { "vxlan.calico": vxlan }, mtu });
  out.first = await tunnels.apply();
  out.second = await tunnels.apply();
  out.link = JSON.parse(ip("-j", "-d", "addr", "show", "dev", "vxlan.calico"))[0];
  // One dump for all our devices reads what one read per device reads (the absent ones left out).
  const links = new IpTunnelLinks();
  const all = await links.list();
  out.many = {
    names: all.map((l) => l.name).filter((n) => ["vxlan.calico", "vxlan-v6.calico", "tunl0"].includes(n)),
    vxlan: all.find((l) => l.name === "vxlan.calico"),
    get: await links.get("vxlan.calico"),
    mtu: [smallestUpMtu(all, "^eth"), await links.smallestMtu("^eth")],
  };
  out.mtuFile = readFileSync(mtuFile, "utf8");

  const nl = new KernelNetlinkRoutes();
  const routes = new RouteReconciler(nl);
  routes.setDesired({
    r: {
      dst: "10.244.2.0/24",
      kind: "remote-block",
      type: "unicast",
      gateway: "10.244.2.0",
      dev: "vxlan.calico",
      onlink: true,
      scope: "universe",
    },
  });
  out.routes1 = await routes.apply();
  out.routes2 = await routes.apply();
  const nn = new KernelNetlinkNeighbors();
  const neigh = new NeighborReconciler(nn, ["vxlan.calico"]);
  const n = (ip: string, mac: string) => ({ dev: "vxlan.calico", ip, mac });
  const f = (mac: string, dst: string) => ({ dev: "vxlan.calico", mac, dst });
  neigh.setDesired(
    { a: n("10.244.2.0", "66:00:00:00:00:02"), b: n("10.244.3.0", "66:00:00:00:00:03") },
    { a: f("66:00:00:00:00:02", "172.31.250.2"), b: f("66:00:00:00:00:03", "172.31.250.3") },
  );
  out.neigh1 = await neigh.apply();
  // node3 goes, node2's node IP changes.
  neigh.setDesired({ a: n("10.244.2.0", "66:00:00:00:00:02") }, { a: f("66:00:00:00:00:02", "172.31.250.22") });
  out.neigh2 = await neigh.apply();
  out.neigh3 = await neigh.apply();
  out.ipRoute = ip("route", "show");
  out.ipNeigh = ip("neigh", "show", "dev", "vxlan.calico", "nud", "permanent");
  out.fdb = sh("bridge", ["fdb", "show", "dev", "vxlan.calico"]);

  // A different VNI re-creates the device; no longer wanted deletes it.
  tunnels.setDesired({ poolsInUse: true, tunnels: { "vxlan.calico": { ...vxlan, vni: 4097, mtu: 1300 } }, mtu });
  out.recreate = await tunnels.apply();
  out.vni = JSON.parse(ip("-j", "-d", "link", "show", "dev", "vxlan.calico"))[0].linkinfo.info_data.id;
  tunnels.setDesired({ poolsInUse: false, tunnels: {}, mtu: { vxlan: false, ipip: false, ifacePattern: "^eth" } });
  out.removed = await tunnels.apply();
  out.after = ip("-j", "link", "show");
  // IPIP where the kernel may lack it: a warning, not a crash.
  tunnels.setDesired({
    poolsInUse: true,
    tunnels: { tunl0: { name: "tunl0", kind: "ipip", address: "10.244.1.1" } },
    mtu: { vxlan: false, ipip: true, ifacePattern: "^eth" },
  });
  out.ipip = await tunnels.apply();
  nl.close();
  nn.close();
  console.log(`RESULT ${JSON.stringify(out)}`);
}

if (process.env.FELIX_NETNS_CHILD === "tunnels") {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
