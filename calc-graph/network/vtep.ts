// A node's VXLAN tunnel endpoint: its underlay address, tunnel address and
// VTEP MAC. Without a MAC annotation the MAC is derived from the node name
// the way Felix does it (0x66 then the first five bytes of sha1(name)), so
// every agent computes the same MAC for a node.

import { hash } from "node:crypto";
import type { NodeInfo } from "../model.js";

export interface Vtep {
  readonly node: string;
  /** Underlay (parent device) address. */
  readonly nodeIp: string;
  readonly tunnelAddr: string;
  readonly mac: string;
}

export function derivedVtepMac(nodeName: string): string {
  const sha = hash("sha1", nodeName, "buffer");
  return [0x66, ...sha.subarray(0, 5)].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** The node's IPv4 underlay address: `projectcalico.org/IPv4Address`, else its first IPv4 InternalIP. */
export function nodeIpv4(n: NodeInfo): string | undefined {
  return n.ipv4Address?.split("/")[0] ?? n.internalIPs.find((ip) => !ip.includes(":"));
}

/** The node's IPv6 underlay address: `projectcalico.org/IPv6Address`, else its first IPv6 InternalIP. */
export function nodeIpv6(n: NodeInfo): string | undefined {
  return n.ipv6Address?.split("/")[0] ?? n.internalIPs.find((ip) => ip.includes(":"));
}

/**
 * The node's VTEP of a family, or undefined while its tunnel address or
 * underlay address is unknown. The IPv6 VTEP's derived MAC hashes
 * `<name>-v6`, as Felix's VXLAN resolver does.
 */
export function vtepOf(n: NodeInfo, v: 4 | 6 = 4): Vtep | undefined {
  if (v === 6) {
    const nodeIp = nodeIpv6(n);
    if (!nodeIp || !n.vxlanTunnelAddrV6) return undefined;
    const mac = n.vxlanTunnelMacV6 ?? derivedVtepMac(`${n.name}-v6`);
    return { node: n.name, nodeIp, tunnelAddr: n.vxlanTunnelAddrV6, mac };
  }
  const nodeIp = nodeIpv4(n);
  if (!nodeIp || !n.vxlanTunnelAddr) return undefined;
  return { node: n.name, nodeIp, tunnelAddr: n.vxlanTunnelAddr, mac: n.vxlanTunnelMac ?? derivedVtepMac(n.name) };
}
