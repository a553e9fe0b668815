// Graph node between the converter and everything that uses pod addresses
// (IP sets, local endpoints, routes). A pod's addresses come from its status
// or CNI annotations, which whoever can write the pod (or a compromised node)
// controls. An address is refused, fail closed, when
//   - it equals a node's address (InternalIP, Calico node or tunnel address):
//     a pod must not get a /32 to its veth for it, nor put it in allow sets;
//   - IP pools of its family exist and none holds it (an address outside the
//     pod network). An address inside a pool but in another node's block is
//     legitimate (borrowed IPAM address) and is routed (network/workload-routes.ts).
// A refused address is taken out of the endpoint and reported on the pod; an
// endpoint left with no address is withdrawn, as a pod without an IP is.
//
//   endpoints$ (converter) ──► EndpointGuard ──► endpoints$ (IP sets, active rules, routes)
//   nodes$, pools ───────────────┘             └► problems$

import type { ResourceProblem } from "../model/resource.js";
import { Subject } from "../model/rx.js";
import type { NodeInfo, WorkloadEndpoint } from "./model.js";
import { StringMultimap } from "./multimap.js";
import { Prefix } from "./network/prefix.js";
import { sameList } from "./same.js";

export class EndpointGuard {
  readonly endpoints$ = new Subject<{ key: string; ep: WorkloadEndpoint | null }>();
  readonly problems$ = new Subject<{ key: string; problem: ResourceProblem | null }>();

  private readonly raw = new Map<string, WorkloadEndpoint>();
  /**
   * Endpoints with a refused address → what went downstream for them (a copy
   * without it, or null). Every other endpoint went downstream as it came.
   */
  private readonly refused = new Map<string, WorkloadEndpoint | null>();
  /** address → endpoint keys holding it (raw). */
  private readonly byAddress = new StringMultimap();
  private readonly nodeAddrs = new Map<string, readonly string[]>();
  /** address → the nodes that have it. */
  private readonly nodesByAddress = new StringMultimap();
  private pools: readonly Prefix[] = [];

  updateEndpoint(key: string, ep: WorkloadEndpoint | null): void {
    const old = this.raw.get(key);
    if (old) for (const a of addresses(old)) this.byAddress.delete(a, key);
    if (ep) {
      this.raw.set(key, ep);
      for (const a of addresses(ep)) this.byAddress.add(a, key);
    } else this.raw.delete(key);
    this.check(key, old ?? null);
  }

  updateNode(name: string, node: NodeInfo | null): void {
    const before = this.nodeAddrs.get(name) ?? [];
    const after = node ? nodeAddresses(node) : [];
    if (before.join() === after.join()) return;
    for (const a of before) this.nodesByAddress.delete(a, name);
    for (const a of after) this.nodesByAddress.add(a, name);
    if (after.length > 0) this.nodeAddrs.set(name, after);
    else this.nodeAddrs.delete(name);
    const keys = new Set<string>();
    for (const a of [...before, ...after]) for (const k of this.byAddress.get(a)) keys.add(k);
    for (const k of [...keys].sort()) this.check(k, this.raw.get(k) ?? null);
  }

  /** Every IP pool's CIDR (disabled pools too: their addresses are still allocated). */
  setPools(cidrs: readonly string[]): void {
    const next = [...new Set(cidrs)].sort();
    if (next.join() === this.pools.map((p) => p.cidr).join()) return;
    this.pools = next.map((c) => Prefix.parse(c));
    for (const k of [...this.raw.keys()].sort()) this.check(k, this.raw.get(k) ?? null);
  }

  /** Re-decides one endpoint; `before` is the raw endpoint at the previous decision. */
  private check(key: string, before: WorkloadEndpoint | null): void {
    const ep = this.raw.get(key) ?? null;
    const why: string[] = [];
    let out = ep;
    if (ep) {
      const keep = (net: string) => {
        const reason = this.refusal(net);
        if (reason) why.push(`${net.split("/")[0]} ${reason}`);
        return !reason;
      };
      const v4 = ep.ipv4Nets.filter(keep);
      const v6 = ep.ipv6Nets.filter(keep);
      if (v4.length + v6.length === 0) out = null;
      else if (why.length > 0) out = { ...ep, ipv4Nets: v4, ipv6Nets: v6 };
    }
    const prev = this.refused.has(key) ? (this.refused.get(key) ?? null) : before;
    const same =
      prev === out ||
      (prev !== null &&
        out !== null &&
        before === ep &&
        sameList(prev.ipv4Nets, out.ipv4Nets) &&
        sameList(prev.ipv6Nets, out.ipv6Nets));
    if (!same) this.endpoints$.next({ key, ep: out });
    const problemKey = `Pod/${key}/addresses`;
    if (why.length > 0 && ep) {
      this.refused.set(key, out);
      const message = `pod address refused (no route, no IP set membership): ${why.join("; ")}`;
      this.problems$.next({ key: problemKey, problem: { key: problemKey, message, node: ep.node } });
    } else if (this.refused.delete(key)) this.problems$.next({ key: problemKey, problem: null });
  }

  private refusal(net: string): string | undefined {
    const ip = net.split("/")[0];
    const nodes = this.nodesByAddress.get(ip);
    if (nodes.length > 0) return `is node ${[...nodes].sort()[0]}'s address`;
    const v6 = ip.includes(":");
    const family = this.pools.filter((p) => (p.family === 6) === v6);
    if (family.length > 0 && !family.some((p) => p.contains(ip))) return "lies in no IP pool";
    return undefined;
  }
}

function addresses(ep: WorkloadEndpoint): string[] {
  return [...ep.ipv4Nets, ...ep.ipv6Nets].map((n) => n.split("/")[0]);
}

/** Every address a node is known by, sorted. */
function nodeAddresses(n: NodeInfo): string[] {
  const out = new Set<string>(n.internalIPs);
  for (const a of [n.ipv4Address?.split("/")[0], n.vxlanTunnelAddr, n.ipipTunnelAddr]) if (a) out.add(a);
  return [...out].sort();
}
