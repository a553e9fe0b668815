// Records that hold many named keys (the snapshot's IP sets, routes, sysctls,
// services, endpoints; a nat-split table's set records). V8 keeps a big object
// built key by key as a hash table, but a copy of it made by spread or
// Object.assign into `{}` comes out with fast properties: a new hidden-class
// chain, one map and descriptor array per key. At the large preset one such
// copy of the then hex-keyed 815-shard filter index allocated ~3 MB and took
// tens of ms, on every change (immer copies a record on the first write
// through a draft). An object without a prototype stays a hash table, and so
// does its copy: immer copies such an object with Object.create(null) +
// Object.assign, and so does copyDict. (The shard index now has array-index
// keys, which V8 copies as elements: model/tables.ts.)

/** An empty record for many keys (no prototype: read it with `in`, Object.keys, indexing; not with its methods). */
export function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** A copy of a record for many keys that stays a hash table (see above). */
export function copyDict<T>(r: Readonly<Record<string, T>> | undefined): Record<string, T> {
  return Object.assign(dict<T>(), r);
}

/** A record for many keys from entries. */
export function dictFrom<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const out = dict<T>();
  for (const [k, v] of entries) out[k] = v;
  return out;
}

// The last changedKeys answer per record: the planner asks again for pairs the split (or the other
// family) already compared, and a copy made by changing known keys can say so (noteChangedKeys).
const known = new WeakMap<object, { readonly to: object; readonly keys: readonly string[] }>();

/** Records that `b` is a copy of `a` with exactly `keys` written or deleted (changedKeys(a, b) then needs no scan). */
export function noteChangedKeys(a: object, b: object, keys: readonly string[]): void {
  known.set(a, { to: b, keys });
}

/**
 * The keys whose value is not the same object in `a` and `b` (added, removed or replaced), without building
 * key arrays or sets of either (own keys only: a `{}` record's "toString" is not one of its keys).
 */
export function changedKeys<T>(a: Readonly<Record<string, T>>, b: Readonly<Record<string, T>>): string[] {
  if (a === b) return [];
  const k = known.get(a);
  if (k?.to === b) return [...k.keys];
  const out: string[] = [];
  for (const k in b) if (!Object.hasOwn(a, k) || a[k] !== b[k]) out.push(k);
  for (const k in a) if (!Object.hasOwn(b, k)) out.push(k);
  known.set(a, { to: b, keys: out.slice() });
  return out;
}
