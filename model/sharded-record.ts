// A record of many keys kept in a snapshot as SHARDS records, by FNV-1a of the
// key. A flush that changes a few keys copies their shards and the slot array,
// not a record of every key: a copied whole record (a hash table of thousands
// of entries) is live state V8 promotes to the old generation, and the old one
// old-generation garbage, on every change (bench/promoted-preload.ts found such
// copies at the top of what the daemon promotes). Every slot holds a record
// (empty ones too), so equal contents have equal structure. A snapshot's
// shards never change (copy on write: withWrites, or an immer draft of them).

import { changedKeys, dict } from "./dict.js";
import { fnv1a } from "./fnv.js";

export type Shard<T> = Readonly<Record<string, T>>;
export type Sharded<T> = readonly Shard<T>[];

export const SHARDS = 64;

export function shardIndex(key: string): number {
  return fnv1a(key) % SHARDS;
}

export function emptySharded<T>(): Record<string, T>[] {
  return Array.from({ length: SHARDS }, () => dict<T>());
}

export function shardValue<T>(s: Sharded<T>, key: string): T | undefined {
  const shard = s[shardIndex(key)];
  return Object.hasOwn(shard, key) ? shard[key] : undefined;
}

/** Every value, unsorted. */
export function shardValues<T>(s: Sharded<T>): T[] {
  const out: T[] = [];
  for (const shard of s) for (const k in shard) out.push(shard[k]);
  return out;
}

/** Every key, unsorted. */
export function shardKeys<T>(s: Sharded<T>): string[] {
  const out: string[] = [];
  for (const shard of s) for (const k in shard) out.push(k);
  return out;
}

export function shardCount<T>(s: Sharded<T>): number {
  let n = 0;
  for (const shard of s) for (const _ in shard) n++;
  return n;
}

/** Sets (or with `value` undefined, deletes) one key in mutable shards or an immer draft of them. */
export function putIn<T>(s: Record<string, T>[], key: string, value: T | undefined): void {
  const shard = s[shardIndex(key)];
  if (value !== undefined) shard[key] = value;
  else delete shard[key];
}

/** Shards holding `entries`. */
export function shardedFrom<T>(entries: Iterable<readonly [string, T]>): Sharded<T> {
  const out = emptySharded<T>();
  for (const [k, v] of entries) putIn(out, k, v);
  return out;
}

/**
 * `base` with `writes` (undefined: delete), copying only the shards they change, those frozen
 * when `freeze`; `base` itself if none changes.
 */
export function withWrites<T>(
  base: Sharded<T>,
  writes: Iterable<readonly [string, T | undefined]>,
  freeze = false,
): Sharded<T> {
  let out: Record<string, T>[] | undefined;
  const copied = new Set<number>();
  for (const [key, value] of writes) {
    const i = shardIndex(key);
    const shard = (out ?? base)[i];
    if (value !== undefined ? shard[key] === value : !Object.hasOwn(shard, key)) continue;
    out ??= base.slice();
    if (!copied.has(i)) {
      out[i] = Object.assign(dict<T>(), shard);
      copied.add(i);
    }
    putIn(out, key, value);
  }
  if (out && freeze) {
    for (const i of copied) Object.freeze(out[i]);
    Object.freeze(out);
  }
  return out ?? base;
}

const known = new WeakMap<Sharded<unknown>, { readonly to: Sharded<unknown>; readonly keys: readonly string[] }>();

/** Keys whose value differs between two versions (added, removed or another object), looking only into changed shards. */
export function changedShardKeys<T>(before: Sharded<T>, after: Sharded<T>): string[] {
  if (before === after) return [];
  // Several consumers (the split and the planner of both families) ask for the same pair.
  const k = known.get(before);
  if (k?.to === after) return [...k.keys];
  const out: string[] = [];
  for (let i = 0; i < SHARDS; i++) {
    if (before[i] !== after[i]) out.push(...changedKeys(before[i], after[i]));
  }
  known.set(before, { to: after, keys: out.slice() });
  return out;
}
