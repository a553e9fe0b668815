// Node → NodeInfo: its InternalIPs and pod CIDRs (its IPAM blocks when no
// Calico IPAM is in use), its labels, and the addresses calico-node records
// in annotations (node address and subnet, tunnel addresses, VTEP MAC).

import type { Node } from "../../model/k8s.js";
import type { NodeInfo } from "../model.js";
import { parseCidr, parseIp } from "./cidr.js";

export const ANNOTATION_IPV4_ADDRESS = "projectcalico.org/IPv4Address";
export const ANNOTATION_VXLAN_ADDR = "projectcalico.org/IPv4VXLANTunnelAddr";
/** What libcalico-go's Kubernetes node conversion writes. */
export const ANNOTATION_VXLAN_MAC = "projectcalico.org/VXLANTunnelMACAddr";
/** Accepted too (the spelling, by analogy with the address annotations). */
export const ANNOTATION_VXLAN_MAC_ALT = "projectcalico.org/IPv4VXLANTunnelMACAddr";
export const ANNOTATION_IPIP_ADDR = "projectcalico.org/IPv4IPIPTunnelAddr";
export const ANNOTATION_IPV6_ADDRESS = "projectcalico.org/IPv6Address";
export const ANNOTATION_VXLAN_ADDR_V6 = "projectcalico.org/IPv6VXLANTunnelAddr";
export const ANNOTATION_VXLAN_MAC_V6 = "projectcalico.org/VXLANTunnelMACAddrV6";

export function nodeToNodeInfo(node: Node): NodeInfo {
  const name = node.metadata?.name;
  if (!name) throw new Error("Node has no metadata.name");
  const internalIPs: string[] = [];
  for (const a of node.status?.addresses ?? []) {
    if (a?.type === "InternalIP" && a.address) internalIPs.push(parseIp(a.address).text);
  }
  const cidrs = new Set<string>();
  for (const c of node.spec?.podCIDRs ?? []) cidrs.add(parseCidr(c).text);
  if (node.spec?.podCIDR) cidrs.add(parseCidr(node.spec.podCIDR).text);
  const info: NodeInfo = { name, internalIPs, podCIDRs: [...cidrs].sort() };
  return { ...info, ...calicoAnnotations(node) };
}

/** The Calico annotations, validated; absent ones are left out (so a plain Node converts as before). */
function calicoAnnotations(node: Node): Partial<NodeInfo> {
  const a = node.metadata?.annotations ?? {};
  const out: { -readonly [K in keyof NodeInfo]?: NodeInfo[K] } = {};
  if (node.metadata?.labels && Object.keys(node.metadata.labels).length > 0) out.labels = node.metadata.labels;
  for (const [key, field, version] of [
    [ANNOTATION_IPV4_ADDRESS, "ipv4Address", 4],
    [ANNOTATION_IPV6_ADDRESS, "ipv6Address", 6],
  ] as const) {
    const addr = a[key];
    if (!addr) continue;
    const [ip, len] = addr.trim().split("/");
    const v = parseIp(ip);
    const max = version === 4 ? 32 : 128;
    if (v.version !== version) throw new Error(`${key} ${JSON.stringify(addr)} is not IPv${version}`);
    const n = len === undefined ? max : Number(len);
    if (!/^\d+$/.test(len ?? String(max)) || n > max)
      throw new Error(`${key} ${JSON.stringify(addr)}: bad prefix length`);
    out[field] = `${v.text}/${n}`;
  }
  for (const [key, field, version] of [
    [ANNOTATION_VXLAN_ADDR, "vxlanTunnelAddr", 4],
    [ANNOTATION_IPIP_ADDR, "ipipTunnelAddr", 4],
    [ANNOTATION_VXLAN_ADDR_V6, "vxlanTunnelAddrV6", 6],
  ] as const) {
    const v = a[key];
    if (!v) continue;
    const ip = parseIp(v.split("/")[0]);
    if (ip.version !== version) throw new Error(`${key} ${JSON.stringify(v)} is not IPv${version}`);
    out[field] = ip.text;
  }
  for (const [key, field] of [
    [ANNOTATION_VXLAN_MAC, "vxlanTunnelMac"],
    [ANNOTATION_VXLAN_MAC_V6, "vxlanTunnelMacV6"],
  ] as const) {
    const mac = key === ANNOTATION_VXLAN_MAC ? (a[key] ?? a[ANNOTATION_VXLAN_MAC_ALT]) : a[key];
    if (!mac) continue;
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac.trim()))
      throw new Error(`${key} ${JSON.stringify(mac)} is not a MAC address`);
    out[field] = mac.trim().toLowerCase();
  }
  return out;
}
