// Remote workloads whose address lies in no block their node holds: IPAM
// lent the address from another node's block (the node's own blocks were
// full, or it has none). Every node routes such an address as a /32 (/128)
// to the workload's node: more specific than the block's route, and than the
// block's blackhole on the block's holder. Felix's L3RouteResolver does the
// same from IPAM's non-affine allocations; we see the pods' addresses instead,
// so two pods may claim one address: a pod on the node holding the address's
// block wins (its block route already covers it), else the first node by name.

import type { WorkloadEndpoint } from "../model.js";
import { StringMultimap } from "../multimap.js";
import type { Prefix } from "./prefix.js";

const netsOf = (ep: WorkloadEndpoint): string[] => [...ep.ipv4Nets, ...ep.ipv6Nets];

export class WorkloadAddresses {
  private readonly byKey = new Map<string, WorkloadEndpoint>();
  /** node → its endpoints' keys. */
  private readonly byNode = new Map<string, Set<string>>();
  /** address (canonical /32, /128) → endpoint keys. */
  private readonly keysAt = new StringMultimap();

  /** An endpoint's node and addresses, as recorded. */
  get(key: string): { readonly node: string; readonly nets: readonly string[] } | undefined {
    const ep = this.byKey.get(key);
    return ep && { node: ep.node, nets: netsOf(ep) };
  }

  /** Records an endpoint; returns the nodes whose routes may change. */
  update(key: string, ep: WorkloadEndpoint | null): Set<string> {
    const old = this.byKey.get(key);
    const affected = new Set<string>();
    const keep = ep?.node && (ep.ipv4Nets.length > 0 || ep.ipv6Nets.length > 0) ? ep : undefined;
    if (old && keep && old.node === keep.node && netsOf(old).join() === netsOf(keep).join()) {
      this.byKey.set(key, keep);
      return affected;
    }
    if (old) {
      affected.add(old.node);
      for (const n of netsOf(old)) for (const x of this.nodesAt(n)) affected.add(x);
      const s = this.byNode.get(old.node);
      s?.delete(key);
      if (s?.size === 0) this.byNode.delete(old.node);
      for (const n of netsOf(old)) this.keysAt.delete(n, key);
      this.byKey.delete(key);
    }
    if (keep) {
      this.byKey.set(key, keep);
      const s = this.byNode.get(keep.node) ?? new Set<string>();
      this.byNode.set(keep.node, s);
      s.add(key);
      for (const n of netsOf(keep)) {
        this.keysAt.add(n, key);
        for (const x of this.nodesAt(n)) affected.add(x);
      }
    }
    return affected;
  }

  /** Every address of `node`'s workloads. */
  *addressesOn(node: string): Iterable<string> {
    for (const k of this.byNode.get(node) ?? []) {
      const ep = this.byKey.get(k);
      if (ep) yield* netsOf(ep);
    }
  }

  /** The nodes with a workload at `net`. */
  nodesAt(net: string): Set<string> {
    const out = new Set<string>();
    for (const k of this.keysAt.get(net)) {
      const ep = this.byKey.get(k);
      if (ep) out.add(ep.node);
    }
    return out;
  }

  /** The nodes with a workload inside any of `prefixes` (blocks whose holder changed), in one pass. */
  nodesWithin(prefixes: readonly Prefix[]): Set<string> {
    // IPv4 blocks by their whole leading octets: an address is tested only against the blocks it can be in.
    const byLead = new Map<string, Prefix[]>();
    const others: Prefix[] = [];
    for (const p of prefixes) {
      if (p.lead === "") others.push(p);
      else byLead.set(p.lead, [...(byLead.get(p.lead) ?? []), p]);
    }
    const out = new Set<string>();
    for (const [net, keys] of this.keysAt.entries()) {
      if (!within(net, byLead, others)) continue;
      for (const k of keys) {
        const ep = this.byKey.get(k);
        if (ep) out.add(ep.node);
      }
    }
    return out;
  }

  /**
   * `node`'s addresses that need their own route, sorted: in none of `held`
   * (the node's blocks), not on the holder of their block (`holderOf`), and
   * `node` is the first by name among the other claimants.
   */
  borrowed(node: string, held: readonly Prefix[], holderOf: (net: string) => string | undefined): string[] {
    const out = new Set<string>();
    for (const net of this.addressesOn(node)) {
      if (held.some((b) => b.contains(net))) continue;
      const others = this.nodesAt(net);
      const holder = holderOf(net);
      if (holder !== undefined && holder !== node && others.has(holder)) continue;
      if ([...others].some((o) => o < node && o !== holder)) continue;
      out.add(net);
    }
    return [...out].sort();
  }
}

function within(net: string, byLead: ReadonlyMap<string, readonly Prefix[]>, others: readonly Prefix[]): boolean {
  if (others.some((p) => p.contains(net))) return true;
  if (net.includes(":")) return false;
  for (let at = net.indexOf("."), n = 0; at >= 0 && n < 3; at = net.indexOf(".", at + 1), n++) {
    if (byLead.get(net.slice(0, at + 1))?.some((p) => p.contains(net))) return true;
  }
  return false;
}
