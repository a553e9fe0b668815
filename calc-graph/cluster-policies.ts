// The converter's part for ClusterNetworkPolicy: converts each object (see
// conversion/cluster-network-policy.ts) and, for the experimental egress
// `nodes` peer, resolves node selectors to the nodes' addresses
// (status.addresses). A CNP with a nodes peer is converted again whenever a
// node's labels or addresses change, and emitted only when its result did.
// Pure: it keeps only the last objects it was given.

import type { ClusterNetworkPolicy } from "../model/cluster-network-policy.js";
import type { Node } from "../model/k8s.js";
import type { ResourceUpdate } from "../model/resource.js";
import { parseIp } from "./conversion/cidr.js";
import { clusterNetworkPolicyToPolicy } from "./conversion/cluster-network-policy.js";
import type { Policy } from "./model.js";
import { matches, type Selector } from "./selector/selector.js";

interface NodeAddrs {
  readonly labels: ReadonlyMap<string, string>;
  /** `/32` and `/128` nets, sorted. */
  readonly nets: readonly string[];
}

export class ClusterPolicies {
  private readonly nodes = new Map<string, NodeAddrs>();
  /** CNPs with a nodes peer, by resource key: converted again when nodes change. */
  private readonly withNodes = new Map<string, ResourceUpdate>();
  /** What was last emitted per resource key: its policy key (it names the tier) and JSON, to emit only changes. */
  private readonly emitted = new Map<string, { key: string; json: string }>();

  constructor(
    private readonly emit: (key: string, policy: Policy | null) => void,
    private readonly report: (key: string, u: ResourceUpdate, message: string | undefined) => void,
  ) {}

  apply(key: string, u: ResourceUpdate): void {
    const last = this.emitted.get(key);
    if (!u.value) {
      this.withNodes.delete(key);
      this.emitted.delete(key);
      if (last) this.emit(last.key, null);
      this.report(key, u, undefined);
      return;
    }
    let converted: ReturnType<typeof clusterNetworkPolicyToPolicy>;
    try {
      converted = clusterNetworkPolicyToPolicy(u.value as ClusterNetworkPolicy, (sel) => this.nodeNets(sel));
    } catch (e) {
      // Cannot be placed: the last valid version, if any, stays in force.
      const kept = last ? " (the last valid version stays in force)" : " (not enforced)";
      this.report(key, u, `${(e as Error).message}${kept}`);
      return;
    }
    if (converted.usesNodes) this.withNodes.set(key, u);
    else this.withNodes.delete(key);
    const next = { key: converted.policy.key, json: JSON.stringify(converted.policy) };
    if (last?.json !== next.json) {
      // Moved to the other tier: its id changes with it.
      if (last && last.key !== next.key) this.emit(last.key, null);
      this.emitted.set(key, next);
      this.emit(next.key, converted.policy);
    }
    this.report(key, u, converted.problem);
  }

  /** Whether a version of this CNP (by resource key) is in force. */
  inForce(key: string): boolean {
    return this.emitted.has(key);
  }

  /** A node added, changed or withdrawn (null). */
  nodeChanged(name: string, node: Node | null): void {
    const next = node ? nodeAddrs(node) : undefined;
    const prev = this.nodes.get(name);
    if (next) this.nodes.set(name, next);
    else this.nodes.delete(name);
    const sig = (n: NodeAddrs | undefined) => JSON.stringify(n && [[...n.labels], n.nets]);
    if (sig(prev) === sig(next)) return;
    for (const [key, u] of [...this.withNodes]) this.apply(key, u);
  }

  private nodeNets(sel: Selector): string[] {
    const out: string[] = [];
    for (const n of this.nodes.values()) if (matches(sel, n.labels)) out.push(...n.nets);
    return out;
  }
}

function nodeAddrs(node: Node): NodeAddrs {
  const labels = new Map(Object.entries(node.metadata?.labels ?? {}).map(([k, v]) => [k, String(v)]));
  const nets = new Set<string>();
  const addresses = (node as { status?: { addresses?: unknown } }).status?.addresses;
  for (const a of Array.isArray(addresses) ? addresses : []) {
    try {
      const ip = parseIp(String((a as { address?: unknown })?.address ?? ""));
      nets.add(`${ip.text}/${ip.version === 4 ? 32 : 128}`);
    } catch {
      // Hostname and InternalDNS entries are names, not addresses.
    }
  }
  return { labels, nets: [...nets].sort() };
}
