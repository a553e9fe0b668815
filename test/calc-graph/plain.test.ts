// peek/latest read a draft's record as it is now without immer drafting (and
// so copying) the record for the read: the same values as reading through the
// draft, assigned and deleted entries included.

import assert from "node:assert/strict";
import { test } from "node:test";
import { isDraft, produce } from "immer";
import { latest, peek, plain } from "../../calc-graph/plain.js";

interface Item {
  readonly v: number;
}
type Doc = { items: Record<string, Item> };

const base: Doc = Object.freeze({ items: Object.freeze({ a: Object.freeze({ v: 1 }), b: Object.freeze({ v: 2 }) }) });

test("peek gives what a read through the draft gives, as the flush writes and deletes", () => {
  produce(base, (d) => {
    assert.equal(peek(d.items, "a"), base.items.a, "untouched: the base object");
    d.items.c = { v: 3 };
    assert.deepEqual(peek(d.items, "c"), { v: 3 }, "assigned in this flush");
    delete d.items.b;
    assert.equal(peek(d.items, "b"), undefined, "deleted in this flush");
    assert.equal(peek(d.items, "constructor"), undefined, "only the record's own keys");
    for (const k of ["a", "b", "c", "z"]) assert.deepEqual(peek(d.items, k), plain(d.items[k]), k);
  });
  assert.equal(peek(base.items, "a"), base.items.a, "a plain record: as it is");
});

test("peek and latest make no draft of the entry read (immer would copy the record for one)", () => {
  const out = produce(base, (d) => {
    peek(d.items, "a");
    Object.values(latest(d.items)).map((i) => i.v);
    assert.equal(isDraft(latest(d.items).a), false);
  });
  assert.equal(out, base, "nothing written: the same snapshot");
  produce(base, (d) => {
    void d.items.a.v; // the ordinary read
    assert.equal(isDraft(latest(d.items).a), true, "a read through the draft makes one");
  });
});
