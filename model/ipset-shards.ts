// The snapshot's IP sets (DesiredState.ipsets, ~1,450 at the large preset),
// in 64 shards by a hash of the name. A flush that changes a few sets copies
// their shards and the 64-slot array, not a record of every set: immer copied
// that record (a ~100 KB hash table) on every change that touched a set, half
// of what the nftables daemon promoted to the old generation per pod label
// change (bench/promoted-preload.ts). Every slot holds a record (empty ones
// too), so equal contents have equal structure. Read with ipSetOf /
// ipSetList / changedIpSets; a snapshot's shards never change (copy on write:
// withIpSets, or the graph's immer draft).

import { changedKeys, dict } from "./dict.js";
import { fnv1a } from "./fnv.js";
import type { IpSetState } from "./ipset.js";

export type IpSetShard = Readonly<Record<string, IpSetState>>;
/** DesiredState.ipsets: IPSET_SHARDS records keyed by kernel name. */
export type IpSets = readonly IpSetShard[];

export const IPSET_SHARDS = 64;

/** The shard of a set name: FNV-1a of the name. */
export function ipSetShard(name: string): number {
  return fnv1a(name) % IPSET_SHARDS;
}

export function ipSetOf(s: IpSets, name: string): IpSetState | undefined {
  const shard = s[ipSetShard(name)];
  return Object.hasOwn(shard, name) ? shard[name] : undefined;
}

/** Every set, unsorted. */
export function ipSetList(s: IpSets): IpSetState[] {
  const out: IpSetState[] = [];
  for (const shard of s) for (const k in shard) out.push(shard[k]);
  return out;
}

/** Every set name, unsorted. */
export function ipSetNames(s: IpSets): string[] {
  const out: string[] = [];
  for (const shard of s) for (const k in shard) out.push(k);
  return out;
}

export function ipSetCount(s: IpSets): number {
  let n = 0;
  for (const shard of s) for (const _ in shard) n++;
  return n;
}

/** Sets (or with `set` undefined, deletes) one set in mutable shards or an immer draft of them. */
export function putIpSetIn(s: Record<string, IpSetState>[], name: string, set: IpSetState | undefined): void {
  const shard = s[ipSetShard(name)];
  if (set) shard[name] = set;
  else delete shard[name];
}

export function emptyIpSets(): Record<string, IpSetState>[] {
  return Array.from({ length: IPSET_SHARDS }, () => dict<IpSetState>());
}

/** Shards holding `sets` (keyed by their names). */
export function ipSetsOf(sets: Iterable<IpSetState>): IpSets {
  const out = emptyIpSets();
  for (const s of sets) putIpSetIn(out, s.name, s);
  return out;
}

/** `base` with `writes` (undefined: delete), copying only the shards they change; `base` itself if none does. */
export function withIpSets(base: IpSets, writes: Iterable<readonly [string, IpSetState | undefined]>): IpSets {
  let out: Record<string, IpSetState>[] | undefined;
  const copied = new Set<number>();
  for (const [name, set] of writes) {
    const i = ipSetShard(name);
    const shard = (out ?? base)[i];
    if (set ? shard[name] === set : !Object.hasOwn(shard, name)) continue;
    out ??= base.slice();
    if (!copied.has(i)) {
      out[i] = Object.assign(dict<IpSetState>(), shard);
      copied.add(i);
    }
    putIpSetIn(out, name, set);
  }
  return out ?? base;
}

const known = new WeakMap<IpSets, { readonly to: IpSets; readonly names: readonly string[] }>();

/** Names of the sets that differ between two versions (added, removed or another object), looking only into changed shards. */
export function changedIpSets(before: IpSets, after: IpSets): string[] {
  if (before === after) return [];
  // The split and the planner of both families ask for the same pair.
  const k = known.get(before);
  if (k?.to === after) return [...k.names];
  const out: string[] = [];
  for (let i = 0; i < IPSET_SHARDS; i++) {
    if (before[i] !== after[i]) out.push(...changedKeys(before[i], after[i]));
  }
  known.set(before, { to: after, names: out.slice() });
  return out;
}
