// Node → NodeInfo: its InternalIPs and pod CIDRs (its IPAM blocks when no
// Calico IPAM is in use), its labels, and the addresses calico-node records
// in annotations (node address and subnet, tunnel addresses, VTEP MAC).

import type { Node } from "../../src/model/k8s.js";
import type { NodeInfo } from "../model.js";
import { parseCidr, parseIp } from "./cidr.js";

export const ANNOTATION_IPV4_ADDRESS = "projectcalico.org/IPv4Address";
export const ANNOTATION_VXLAN_ADDR = "projectcalico.org/IPv4VXLANTunnelAddr";
/** What libcalico-go's Kubernetes node conversion writes. */
export const ANNOTATION_VXLAN_MAC = "projectcalico.org/VXLANTunnelMACAddr";
/** Accepted too (the spelling, by analogy with the address annotations). */
export const ANNOTATION_VXLAN_MAC_ALT = "projectcalico.org/IPv4VXLANTunnelMACAddr";
export const ANNOTATION_IPIP_ADDR = "projectcalico.org/IPv4IPIPTunnelAddr";

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
  const addr = a[ANNOTATION_IPV4_ADDRESS];
  if (addr) {
    const [ip, len] = addr.trim().split("/");
    const v = parseIp(ip);
    if (v.version !== 4) throw new Error(`${ANNOTATION_IPV4_ADDRESS} ${JSON.stringify(addr)} is not IPv4`);
    const n = len === undefined ? 32 : Number(len);
    if (!/^\d+$/.test(len ?? "32") || n > 32)
      throw new Error(`${ANNOTATION_IPV4_ADDRESS} ${JSON.stringify(addr)}: bad prefix length`);
    out.ipv4Address = `${v.text}/${n}`;
  }
  for (const [key, field] of [
    [ANNOTATION_VXLAN_ADDR, "vxlanTunnelAddr"],
    [ANNOTATION_IPIP_ADDR, "ipipTunnelAddr"],
  ] as const) {
    const v = a[key];
    if (!v) continue;
    const ip = parseIp(v.split("/")[0]);
    if (ip.version !== 4) throw new Error(`${key} ${JSON.stringify(v)} is not IPv4`);
    out[field] = ip.text;
  }
  const mac = a[ANNOTATION_VXLAN_MAC] ?? a[ANNOTATION_VXLAN_MAC_ALT];
  if (mac) {
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac.trim()))
      throw new Error(`${ANNOTATION_VXLAN_MAC} ${JSON.stringify(mac)} is not a MAC address`);
    out.vxlanTunnelMac = mac.trim().toLowerCase();
  }
  return out;
}
