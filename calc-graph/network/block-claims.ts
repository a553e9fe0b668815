// Which node holds each IPAM block. A node's claims (its block affinities,
// else its pod CIDRs) are written by that node or by IPAM on its behalf: a
// compromised node could claim `0.0.0.0/1`, or another node's block. So a
// claim is honoured only when
//   - it lies in an IP pool (when pools of its family exist), and an affinity
//     is exactly one of the pool's blocks (`/blockSize`); without pools of its
//     family, affinities are refused (Calico IPAM carves blocks out of pools)
//     and pod CIDRs, set once by kube-controller-manager and immutable, are
//     taken as they are;
//   - no other node holds the same block: the local node first, then the
//     first node by name (deterministic, whatever the order of updates).
// Refused claims are reported; they get no route.

import type { IpPool } from "./model.js";
import { Prefix } from "./prefix.js";

export type ClaimSource = "affinity" | "podCIDR";

export interface PoolPrefix {
  readonly pool: IpPool;
  readonly prefix: Prefix;
}

export interface OwnedBlocks {
  readonly blocks: string[];
  /** One line per refused claim, saying why. */
  readonly refused: string[];
}

/** The most specific pool holding `cidr`, if any. */
export function poolHolding(pools: readonly PoolPrefix[], cidr: string): PoolPrefix | undefined {
  let best: PoolPrefix | undefined;
  for (const p of pools) if (p.prefix.contains(cidr) && (!best || p.prefix.length > best.prefix.length)) best = p;
  return best;
}

export class BlockClaims {
  private readonly claims = new Map<string, { readonly source: ClaimSource; readonly cidrs: readonly string[] }>();
  /** cidr → the nodes claiming it. */
  private readonly claimants = new Map<string, Set<string>>();

  constructor(private readonly localNode: string) {}

  /** Sets a node's claims; returns every node whose held blocks may change. */
  set(node: string, source: ClaimSource, cidrs: readonly string[]): Set<string> {
    const affected = new Set<string>([node]);
    for (const c of this.claims.get(node)?.cidrs ?? []) {
      const s = this.claimants.get(c);
      if (!s) continue;
      s.delete(node);
      for (const n of s) affected.add(n);
      if (s.size === 0) this.claimants.delete(c);
    }
    if (cidrs.length === 0) this.claims.delete(node);
    else this.claims.set(node, { source, cidrs });
    for (const c of cidrs) {
      const s = this.claimants.get(c) ?? new Set<string>();
      this.claimants.set(c, s);
      for (const n of s) affected.add(n);
      s.add(node);
    }
    return affected;
  }

  /** The blocks `node` holds under `pools`, and the claims refused. */
  owned(node: string, pools: readonly PoolPrefix[]): OwnedBlocks {
    const claim = this.claims.get(node);
    if (!claim) return { blocks: [], refused: [] };
    const blocks: string[] = [];
    const refused: string[] = [];
    for (const cidr of claim.cidrs) {
      const why = this.invalid(cidr, claim.source, pools);
      if (why) {
        refused.push(`${claim.source === "affinity" ? "block" : "pod CIDR"} ${cidr} refused: ${why}`);
        continue;
      }
      const holder = this.holder(cidr, pools);
      if (holder === node) blocks.push(cidr);
      else refused.push(`block ${cidr} refused: node ${holder} holds it`);
    }
    return { blocks: blocks.sort(), refused };
  }

  private holder(cidr: string, pools: readonly PoolPrefix[]): string | undefined {
    let best: string | undefined;
    for (const n of this.claimants.get(cidr) ?? []) {
      const c = this.claims.get(n);
      if (!c || this.invalid(cidr, c.source, pools)) continue;
      if (n === this.localNode) return n;
      if (best === undefined || n < best) best = n;
    }
    return best;
  }

  /** Judged against the pools of the claim's family (a v4-only pool set says nothing about IPv6 pod CIDRs). */
  private invalid(cidr: string, source: ClaimSource, pools: readonly PoolPrefix[]): string | undefined {
    const v6 = cidr.includes(":");
    const family = pools.filter((p) => (p.prefix.family === 6) === v6);
    if (family.length === 0) return source === "affinity" ? `no IPv${v6 ? 6 : 4} pool exists` : undefined;
    const p = poolHolding(family, cidr);
    if (!p) return "it lies in no IP pool";
    if (source === "affinity" && Prefix.parse(cidr).length !== p.pool.blockSize) {
      return `pool ${p.pool.name} has /${p.pool.blockSize} blocks`;
    }
    return undefined;
  }
}
