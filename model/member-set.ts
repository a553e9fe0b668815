// An IP set's members as a snapshot keeps them: immutable, and split into
// buckets by a hash of the member, so the next snapshot's set shares every
// bucket a change did not touch. A set of thousands changed by one member then
// costs one bucket's copy instead of a copy of all, which matters twice: the
// copy is live state that V8 promotes to the old generation, and the old one
// becomes old-generation garbage that brings the next full collection closer
// (at the large preset the copies were ~45% of what the daemon promoted per
// change). Diffs between two generations of one set skip the shared buckets.
//
// The layout is a function of the size alone (one bucket below LAYOUT_MIN
// members, then a power of two giving 8-16 members a bucket, up to
// MAX_BUCKETS), so a set built fresh and one reached by changes have the same
// layout and compare bucket by bucket. Buckets that small keep a change of
// many members cheap too: a namespace label change at large toggles ~60
// members in each of a dozen sets of 1,000-1,700 and a few in ~25 sets of
// 200-350, and 64 buckets (one below 256 members) copied most of each set.
// A change across a size 8 × 2^n rebuilds the set, as a copy would.
//
// A bucket is a sorted array, not a Set: a bucket of 8-16 members is ~150
// bytes as an array against ~380 as a Set (its hash table), and each change
// copies a bucket per member it toggles (a namespace label change at large:
// ~2,400 members, the largest part of what the daemon promoted to the old
// generation per change). Looking a member up scans at most ~16 (one bucket
// below LAYOUT_MIN: at most 63). A bucket is sorted, so equal sets have equal
// structure (deepStrictEqual, a fresh snapshot against one reached by changes).

import { fnv1a } from "./fnv.js";

/** From this many members, a set is split into buckets. */
const LAYOUT_MIN = 64;
const MEMBERS_PER_BUCKET = 8;
const MAX_BUCKETS = 1024;

type Bucket = readonly string[];
const NONE: Bucket = Object.freeze([]);

function bucketCount(size: number): number {
  if (size < LAYOUT_MIN) return 1;
  let k = 1;
  while (k < MAX_BUCKETS && k * 2 * MEMBERS_PER_BUCKET <= size) k *= 2;
  return k;
}

/** FNV-1a of the member, folded to the bucket count (a power of two). */
function bucketOf(m: string, k: number): number {
  if (k === 1) return 0;
  const h = fnv1a(m);
  return (h ^ (h >>> 16)) & (k - 1);
}

export class MemberSet implements ReadonlySet<string> {
  static readonly EMPTY = new MemberSet([NONE], 0);

  private constructor(
    /** Never changed once built; a bucket may be shared with other generations. */
    private readonly buckets: readonly Bucket[],
    readonly size: number,
  ) {}

  static of(members: Iterable<string>): MemberSet {
    return MemberSet.from(new Set(members));
  }

  /** A set of `all`'s distinct members. */
  private static from(all: ReadonlySet<string>): MemberSet {
    if (all.size === 0) return MemberSet.EMPTY;
    const k = bucketCount(all.size);
    if (k === 1) return new MemberSet([[...all].sort()], all.size);
    const buckets: string[][] = Array.from({ length: k }, () => []);
    for (const m of all) buckets[bucketOf(m, k)]!.push(m);
    for (const b of buckets) b.sort();
    return new MemberSet(buckets, all.size);
  }

  /**
   * This set with each of `toggled` present or not as `present(m)` says, sharing the untouched
   * buckets; this very object when nothing changes.
   */
  with(toggled: Iterable<string>, present: (m: string) => boolean): MemberSet {
    const k = this.buckets.length;
    // Per changed bucket, its members that flip (true: to be added), each bucket then made once.
    let flips: Map<number, Map<string, boolean>> | undefined;
    let size = this.size;
    for (const m of toggled) {
      const b = bucketOf(m, k);
      if (flips?.get(b)?.has(m)) continue;
      const want = present(m);
      if (this.buckets[b]!.includes(m) === want) continue;
      flips ??= new Map();
      let f = flips.get(b);
      if (!f) flips.set(b, (f = new Map()));
      f.set(m, want);
      size += want ? 1 : -1;
    }
    if (!flips) return this;
    if (size === 0) return MemberSet.EMPTY;
    const buckets: Bucket[] = [...this.buckets];
    for (const [b, f] of flips) buckets[b] = flipped(buckets[b]!, f);
    if (bucketCount(size) !== k) return MemberSet.from(flatten(buckets));
    return new MemberSet(buckets, size);
  }

  has(m: string): boolean {
    return this.buckets[bucketOf(m, this.buckets.length)]!.includes(m);
  }

  forEach(fn: (value: string, key: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    for (const b of this.buckets) for (const m of b) fn.call(thisArg, m, m, this);
  }

  *[Symbol.iterator](): SetIterator<string> {
    for (const b of this.buckets) yield* b;
  }

  keys(): SetIterator<string> {
    return this[Symbol.iterator]();
  }

  values(): SetIterator<string> {
    return this[Symbol.iterator]();
  }

  *entries(): SetIterator<[string, string]> {
    for (const m of this) yield [m, m];
  }

  /** How many buckets two sets share (the same object): what a change left untouched. */
  static sharedBuckets(a: MemberSet, b: MemberSet): number {
    if (a.buckets.length !== b.buckets.length) return 0;
    return a.buckets.filter((x, i) => x === b.buckets[i]).length;
  }

  /**
   * The members of `from` that `of` lacks, in O(the buckets they do not share) when both are
   * MemberSets of one layout; undefined otherwise (the caller compares member by member).
   */
  static missing(of: ReadonlySet<string>, from: ReadonlySet<string>): string[] | undefined {
    if (!(of instanceof MemberSet) || !(from instanceof MemberSet)) return undefined;
    if (of.buckets.length !== from.buckets.length) return undefined;
    const out: string[] = [];
    for (let i = 0; i < from.buckets.length; i++) {
      const a = of.buckets[i]!;
      const b = from.buckets[i]!;
      if (a === b) continue;
      for (const m of b) if (!a.includes(m)) out.push(m);
    }
    return out;
  }
}

/** `bucket` with `flips` applied, sorted, allocated at its exact size (a push or splice leaves V8's growth slack). */
function flipped(bucket: Bucket, flips: ReadonlyMap<string, boolean>): Bucket {
  let n = bucket.length;
  for (const add of flips.values()) n += add ? 1 : -1;
  const out = new Array<string>(n);
  let j = 0;
  for (const m of bucket) if (!flips.has(m)) out[j++] = m;
  for (const [m, add] of flips) if (add) out[j++] = m;
  return out.sort();
}

function flatten(buckets: readonly Bucket[]): Set<string> {
  const all = new Set<string>();
  for (const b of buckets) for (const m of b) all.add(m);
  return all;
}
