// This node's addresses from the manifests (its Node's InternalIPs) plus
// loopback: what `-m addrtype --dst-type LOCAL` matches, for the dump views.

import { nodeToNodeInfo } from "../../calc-graph/conversion/node.js";
import type { Node } from "../../model/k8s.js";
import type { ResourceUpdate } from "../../model/resource.js";

export function nodeAddresses(updates: readonly ResourceUpdate[], nodeName: string): string[] {
  const u = updates.find((x) => x.kind === "Node" && x.name === nodeName && x.value);
  let ips: string[] = [];
  try {
    ips = u ? [...nodeToNodeInfo(u.value as Node).internalIPs] : [];
  } catch {
    // an invalid Node: reported by the graph; no addresses here
  }
  return [...ips, "127.0.0.1", "::1"];
}
