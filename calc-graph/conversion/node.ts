// Node → NodeInfo: its InternalIPs and pod CIDRs (its IPAM blocks when no
// Calico IPAM is in use).

import type { Node } from "../../src/model/k8s.js";
import type { NodeInfo } from "../model.js";
import { parseCidr, parseIp } from "./cidr.js";

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
  return { name, internalIPs, podCIDRs: [...cidrs].sort() };
}
