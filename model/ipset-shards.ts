// The snapshot's IP sets (DesiredState.ipsets, ~1,450 at the large preset),
// sharded by name (model/sharded-record.ts): immer copied the whole record (a
// ~100 KB hash table) on every change that touched a set, half of what the
// nftables daemon promoted to the old generation per pod label change. Read
// with ipSetOf / ipSetList / changedIpSets; write with withIpSets, or the
// graph's immer draft.

import type { IpSetState } from "./ipset.js";
import {
  changedShardKeys,
  emptySharded,
  putIn,
  SHARDS,
  type Shard,
  type Sharded,
  shardCount,
  shardIndex,
  shardKeys,
  shardValue,
  shardValues,
  withWrites,
} from "./sharded-record.js";

export type IpSetShard = Shard<IpSetState>;
/** DesiredState.ipsets: IPSET_SHARDS records keyed by kernel name. */
export type IpSets = Sharded<IpSetState>;

export const IPSET_SHARDS = SHARDS;

/** The shard of a set name: FNV-1a of the name. */
export const ipSetShard = shardIndex;

export const ipSetOf = (s: IpSets, name: string): IpSetState | undefined => shardValue(s, name);

/** Every set, unsorted. */
export const ipSetList = (s: IpSets): IpSetState[] => shardValues(s);

/** Every set name, unsorted. */
export const ipSetNames = (s: IpSets): string[] => shardKeys(s);

export const ipSetCount = (s: IpSets): number => shardCount(s);

/** Sets (or with `set` undefined, deletes) one set in mutable shards or an immer draft of them. */
export const putIpSetIn = (s: Record<string, IpSetState>[], name: string, set: IpSetState | undefined): void =>
  putIn(s, name, set);

export const emptyIpSets = (): Record<string, IpSetState>[] => emptySharded<IpSetState>();

/** Shards holding `sets` (keyed by their names). */
export function ipSetsOf(sets: Iterable<IpSetState>): IpSets {
  const out = emptySharded<IpSetState>();
  for (const s of sets) putIn(out, s.name, s);
  return out;
}

/** `base` with `writes` (undefined: delete), copying only the shards they change; `base` itself if none does. */
export const withIpSets = (base: IpSets, writes: Iterable<readonly [string, IpSetState | undefined]>): IpSets =>
  withWrites(base, writes);

/** Names of the sets that differ between two versions (added, removed or another object), looking only into changed shards. */
export const changedIpSets = (before: IpSets, after: IpSets): string[] => changedShardKeys(before, after);
