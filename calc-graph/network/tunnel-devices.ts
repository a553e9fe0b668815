// This node's tunnel devices (vxlan.calico, vxlan-v6.calico, tunl0), the
// neighbour/FDB entries for the remote VTEPs routes go through, and the MTU
// settings. Pure rendering from a node, the merged configuration and the
// VTEPs NetworkIndex picked; kept apart from the index's bookkeeping
// (nodes, pools, claims, dirtiness).

import type { MtuSettings, TunnelDevice } from "../../ifaces/tunnel.js";
import { DEFAULT_MTU_IFACE_PATTERN } from "../../ifaces/tunnel.js";
import type { FdbEntry, NeighborEntry } from "../../routes/neighbor.js";
import { fdbKey, neighborKey } from "../../routes/neighbor.js";
import type { IpVersion, NodeInfo } from "../model.js";
import { IPIP_DEVICE, VXLAN_DEVICE, VXLAN_V6_DEVICE } from "./block-routes.js";
import type { FelixNetworkConfig } from "./model.js";
import { type Vtep, vtepOf } from "./vtep.js";

export const DEFAULT_VXLAN_VNI = 4096;
export const DEFAULT_VXLAN_PORT = 4789;

/** A VXLAN device of a family, or a problem saying why there is none. */
export function vxlanDevice(local: NodeInfo | undefined, v: IpVersion, cfg: FelixNetworkConfig): TunnelDevice | string {
  const vtep = local && vtepOf(local, v);
  if (!vtep) {
    const need =
      v === 4 ? "projectcalico.org/IPv4VXLANTunnelAddr" : "projectcalico.org/IPv6VXLANTunnelAddr and IPv6 address";
    const dev = v === 4 ? VXLAN_DEVICE : VXLAN_V6_DEVICE;
    return `VXLAN${v === 6 ? " (IPv6)" : ""} is in use but this node has no ${local ? need : "Node object"}: ${dev} is not created`;
  }
  const mtu = v === 4 ? cfg.vxlanMTU : cfg.vxlanMTUV6;
  return {
    name: v === 4 ? VXLAN_DEVICE : VXLAN_V6_DEVICE,
    kind: "vxlan",
    address: vtep.tunnelAddr,
    ...(mtu ? { mtu } : {}),
    vni: cfg.vxlanVNI ?? DEFAULT_VXLAN_VNI,
    port: cfg.vxlanPort ?? DEFAULT_VXLAN_PORT,
    localIp: vtep.nodeIp,
    mac: vtep.mac,
  };
}

/** The IPIP device, or a problem when this node has no tunnel address for it. */
export function ipipDevice(local: NodeInfo | undefined, cfg: FelixNetworkConfig): TunnelDevice | string {
  if (!local?.ipipTunnelAddr) {
    return `IPIP is in use but this node has no projectcalico.org/IPv4IPIPTunnelAddr: ${IPIP_DEVICE} gets no address`;
  }
  return {
    name: IPIP_DEVICE,
    kind: "ipip",
    address: local.ipipTunnelAddr,
    ...(cfg.ipipMTU ? { mtu: cfg.ipipMTU } : {}),
  };
}

/** A neighbour and an FDB entry per routed remote VTEP, on each VXLAN device that exists. */
export function vtepEntries(
  tunnels: Readonly<Record<string, TunnelDevice>>,
  routedVteps: (v: IpVersion) => Vtep[],
): { neighbors: Record<string, NeighborEntry>; fdb: Record<string, FdbEntry> } {
  const neighbors: Record<string, NeighborEntry> = {};
  const fdb: Record<string, FdbEntry> = {};
  for (const [v, dev] of [
    [4, VXLAN_DEVICE],
    [6, VXLAN_V6_DEVICE],
  ] as const) {
    if (!tunnels[dev]) continue;
    for (const vtep of routedVteps(v)) {
      const ne: NeighborEntry = { dev, ip: vtep.tunnelAddr, mac: vtep.mac, node: vtep.node };
      const fe: FdbEntry = { dev, mac: vtep.mac, dst: vtep.nodeIp, node: vtep.node };
      neighbors[neighborKey(ne)] = ne;
      fdb[fdbKey(fe)] = fe;
    }
  }
  return { neighbors, fdb };
}

/** Which encapsulations the MTU calculation accounts for, and the configured MTUs. */
export function mtuSettings(tunnels: Readonly<Record<string, TunnelDevice>>, cfg: FelixNetworkConfig): MtuSettings {
  return {
    vxlan: Boolean(tunnels[VXLAN_DEVICE]),
    ipip: Boolean(tunnels[IPIP_DEVICE]),
    ...(tunnels[VXLAN_V6_DEVICE] ? { vxlanV6: true } : {}),
    ...(cfg.vxlanMTU ? { vxlanMtu: cfg.vxlanMTU } : {}),
    ...(cfg.vxlanMTUV6 ? { vxlanMtuV6: cfg.vxlanMTUV6 } : {}),
    ...(cfg.ipipMTU ? { ipipMtu: cfg.ipipMTU } : {}),
    ifacePattern: cfg.mtuIfacePattern ?? DEFAULT_MTU_IFACE_PATTERN,
  };
}
