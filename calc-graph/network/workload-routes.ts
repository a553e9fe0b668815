// Remote workloads whose address lies in no block their node holds: IPAM
// lent the address from another node's block (the node's own blocks were
// full, or it has none). Every node routes such an address as a /32 (/128)
// to the workload's node: more specific than the block's route, and than the
// block's blackhole on the block's holder. Felix's L3RouteResolver does the
// same from IPAM's non-affine allocations; we see the pods' addresses instead,
// so two pods may claim one address: a pod on the node holding the address's
// block wins (its block route already covers it), else the first node by name.

import type { WorkloadEndpoint } from "../model.js";
import type { Prefix } from "./prefix.js";

export class WorkloadAddresses {
  private readonly byKey = new Map<string, { readonly node: string; readonly nets: readonly string[] }>();
  /** node → endpoint key → addresses (canonical /32, /128). */
  private readonly byNode = new Map<string, Map<string, readonly string[]>>();
  /** address → endpoint keys. */
  private readonly keysAt = new Map<string, Set<string>>();

  /** An endpoint's node and addresses, as recorded. */
  get(key: string): { readonly node: string; readonly nets: readonly string[] } | undefined {
    return this.byKey.get(key);
  }

  /** Records an endpoint; returns the nodes whose routes may change. */
  update(key: string, ep: WorkloadEndpoint | null): Set<string> {
    const old = this.byKey.get(key);
    const nets = ep ? [...ep.ipv4Nets, ...ep.ipv6Nets] : [];
    const affected = new Set<string>();
    if (old && ep && old.node === ep.node && old.nets.join() === nets.join()) return affected;
    if (old) {
      affected.add(old.node);
      for (const n of old.nets) for (const x of this.nodesAt(n)) affected.add(x);
      const m = this.byNode.get(old.node);
      m?.delete(key);
      if (m?.size === 0) this.byNode.delete(old.node);
      for (const n of old.nets) {
        const s = this.keysAt.get(n);
        s?.delete(key);
        if (s?.size === 0) this.keysAt.delete(n);
      }
      this.byKey.delete(key);
    }
    if (ep?.node && nets.length > 0) {
      this.byKey.set(key, { node: ep.node, nets });
      const m = this.byNode.get(ep.node) ?? new Map<string, readonly string[]>();
      this.byNode.set(ep.node, m);
      m.set(key, nets);
      for (const n of nets) {
        const s = this.keysAt.get(n) ?? new Set<string>();
        this.keysAt.set(n, s);
        s.add(key);
        for (const x of this.nodesAt(n)) affected.add(x);
      }
    }
    return affected;
  }

  /** Every address of `node`'s workloads. */
  *addressesOn(node: string): Iterable<string> {
    for (const nets of this.byNode.get(node)?.values() ?? []) yield* nets;
  }

  /** The nodes with a workload at `net`. */
  nodesAt(net: string): Set<string> {
    const out = new Set<string>();
    for (const k of this.keysAt.get(net) ?? []) {
      const e = this.byKey.get(k);
      if (e) out.add(e.node);
    }
    return out;
  }

  /** The nodes with a workload inside `prefix` (a block whose holder changed). */
  nodesWithin(prefix: Prefix): Set<string> {
    const out = new Set<string>();
    for (const [net, keys] of this.keysAt) {
      if (!prefix.contains(net)) continue;
      for (const k of keys) {
        const e = this.byKey.get(k);
        if (e) out.add(e.node);
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
    for (const nets of this.byNode.get(node)?.values() ?? []) {
      for (const net of nets) {
        if (held.some((b) => b.contains(net))) continue;
        const others = this.nodesAt(net);
        const holder = holderOf(net);
        if (holder !== undefined && holder !== node && others.has(holder)) continue;
        if ([...others].some((o) => o < node && o !== holder)) continue;
        out.add(net);
      }
    }
    return [...out].sort();
  }
}
