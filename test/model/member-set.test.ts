// MemberSet: an immutable IP set membership whose generations share the
// buckets a change did not touch. Checked against a plain Set under random
// changes: the same members, the same answers, a layout that depends on the
// size alone, and diffs that agree with a member-by-member comparison.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { missingFrom } from "../../model/ipset.js";
import { MemberSet } from "../../model/member-set.js";

const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** Member-by-member, as missingFrom does for plain sets. */
function naiveMissing(of: ReadonlySet<string>, from: ReadonlySet<string>): string[] {
  return [...from].filter((m) => !of.has(m)).sort();
}

describe("MemberSet", () => {
  it("holds what a plain Set holds after any changes, and diffs as a member-by-member comparison does", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 700 }),
        fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: 900 }), fc.boolean()), { maxLength: 40 }), {
          maxLength: 12,
        }),
        (start, rounds) => {
          const ref = new Set(Array.from({ length: start }, (_, i) => ip(i)));
          let set = MemberSet.of(ref);
          for (const round of rounds) {
            const before = set;
            const beforeRef = new Set(ref);
            for (const [i, add] of round) {
              if (add) ref.add(ip(i));
              else ref.delete(ip(i));
            }
            set = set.with(
              round.map(([i]) => ip(i)),
              (m) => ref.has(m),
            );
            assert.equal(set.size, ref.size);
            assert.deepEqual([...set].sort(), [...ref].sort());
            for (const [i] of round) assert.equal(set.has(ip(i)), ref.has(ip(i)));
            let n = 0;
            set.forEach(() => {
              n++;
            });
            assert.equal(n, ref.size);
            // The same layout as a set built fresh: they compare bucket by bucket, and are structurally equal.
            assert.deepStrictEqual(set, MemberSet.of(ref));
            assert.deepEqual(missingFrom(MemberSet.of(ref), set), []);
            assert.deepEqual(missingFrom(set, MemberSet.of(ref)), []);
            assert.deepEqual(missingFrom(before, set).sort(), naiveMissing(beforeRef, ref));
            assert.deepEqual(missingFrom(set, before).sort(), naiveMissing(ref, beforeRef));
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("a change of one member in a set of thousands copies one bucket and shares the rest", () => {
    const a = MemberSet.of(Array.from({ length: 5000 }, (_, i) => ip(i)));
    const b = a.with([ip(7)], () => false);
    assert.equal(b.size, 4999);
    assert.equal(b.has(ip(7)), false);
    const buckets = MemberSet.sharedBuckets(a, a);
    assert.ok(buckets >= 256, `${buckets} buckets`);
    assert.equal(MemberSet.sharedBuckets(a, b), buckets - 1);
    const c = b.with([ip(99999)], () => true);
    assert.equal(c.has(ip(99999)), true);
    assert.ok(MemberSet.sharedBuckets(b, c) >= buckets - 1);
  });

  it("a change of many members copies about as many small buckets, not the set", () => {
    const a = MemberSet.of(Array.from({ length: 1500 }, (_, i) => ip(i)));
    const buckets = MemberSet.sharedBuckets(a, a);
    // A namespace label change at large: ~60 pods join a set of 1,500.
    const b = a.with(
      Array.from({ length: 60 }, (_, i) => ip(5000 + i)),
      () => true,
    );
    assert.equal(b.size, 1560);
    assert.equal(MemberSet.sharedBuckets(b, b), buckets, "the same layout");
    assert.ok(buckets - MemberSet.sharedBuckets(a, b) <= 60, "at most a bucket per member");
    assert.ok(MemberSet.sharedBuckets(a, b) >= buckets / 2, `${MemberSet.sharedBuckets(a, b)} of ${buckets} shared`);
  });

  it("is the very same object when the toggled members did not change", () => {
    const a = MemberSet.of(Array.from({ length: 300 }, (_, i) => ip(i)));
    assert.equal(
      a.with([ip(1), ip(1000)], (m) => m === ip(1)),
      a,
    );
    assert.equal(
      MemberSet.EMPTY.with([ip(1)], () => false),
      MemberSet.EMPTY,
    );
  });

  it("changes layout with its size, both ways, keeping its members", () => {
    const small = MemberSet.of(Array.from({ length: 255 }, (_, i) => ip(i)));
    const big = small.with([ip(255)], () => true);
    assert.equal(big.size, 256);
    assert.deepEqual(missingFrom(MemberSet.of(big), big), []);
    const back = big.with([ip(0)], () => false);
    assert.equal(back.size, 255);
    assert.deepEqual([...back].sort(), Array.from({ length: 255 }, (_, i) => ip(i + 1)).sort());
    assert.equal(back.with([ip(1)], () => false).has(ip(1)), false);
  });
});
