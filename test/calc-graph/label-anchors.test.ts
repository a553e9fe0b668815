// The label index against brute force: after every random change (items
// relabelled, moved between parents, removed; selectors added, replaced,
// removed) each selector matches exactly the items a full scan finds, whatever
// label it is filed under (`k == v`, `k in {…}` over several values, `has(k)`,
// none). And a `k in {…}` selector tests only the items carrying one of its
// values, not every item carrying k.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mulberry32 } from "../../bench/rng.js";
import { LabelIndex } from "../../calc-graph/label-index.js";
import { and, eq, has, inSet, matches, neq, not, notIn, type Selector } from "../../calc-graph/selector/selector.js";

const KEYS = ["app", "tier", "team", "env"];
const VALUES = ["a", "b", "c", "d"];

describe("label index anchors", () => {
  it("matches what a full scan matches through random changes", () => {
    const rnd = mulberry32(15);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    const some = (): string[] => VALUES.filter(() => rnd() < 0.5);
    const term = (): Selector => {
      const k = pick(KEYS);
      switch (Math.floor(rnd() * 6)) {
        case 0:
          return eq(k, pick(VALUES));
        case 1:
          return inSet(k, some());
        case 2:
          return has(k);
        case 3:
          return neq(k, pick(VALUES));
        case 4:
          return notIn(k, some());
        default:
          return not(has(k));
      }
    };
    const selector = (): Selector => and(...Array.from({ length: 1 + Math.floor(rnd() * 3) }, term));
    const labels = (): Record<string, string> => {
      const out: Record<string, string> = {};
      for (const k of KEYS) if (rnd() < 0.6) out[k] = pick(VALUES);
      return out;
    };

    const index = new LabelIndex();
    const parents = new Map<string, Record<string, string>>();
    const items = new Map<string, { own: Record<string, string>; parents: string[] }>();
    const selectors = new Map<string, Selector>();
    const effective = (id: string): Map<string, string> => {
      const it = items.get(id)!;
      const m = new Map<string, string>();
      for (const p of it.parents) for (const [k, v] of Object.entries(parents.get(p) ?? {})) m.set(k, v);
      for (const [k, v] of Object.entries(it.own)) m.set(k, v);
      return m;
    };

    for (let step = 0; step < 3000; step++) {
      const r = rnd();
      if (r < 0.35) {
        const id = `item${Math.floor(rnd() * 40)}`;
        const it = { own: labels(), parents: rnd() < 0.5 ? [`p${Math.floor(rnd() * 3)}`] : [] };
        items.set(id, it);
        index.updateItem(id, it.own, it.parents);
      } else if (r < 0.45) {
        const id = `item${Math.floor(rnd() * 40)}`;
        items.delete(id);
        index.updateItem(id, null);
      } else if (r < 0.55) {
        const id = `p${Math.floor(rnd() * 3)}`;
        const l = labels();
        parents.set(id, l);
        index.updateParent(id, l);
      } else if (r < 0.9) {
        const id = `sel${Math.floor(rnd() * 15)}`;
        const s = selector();
        selectors.set(id, s);
        index.updateSelector(id, s);
      } else {
        const id = `sel${Math.floor(rnd() * 15)}`;
        selectors.delete(id);
        index.updateSelector(id, null);
      }
      for (const [id, s] of selectors) {
        const want = [...items.keys()].filter((i) => matches(s, effective(i))).sort();
        assert.deepEqual([...index.itemsMatching(id)].sort(), want, `step ${step}: ${id}`);
      }
    }
  });

  it("tests a `k in {…}` selector against its values' items only", () => {
    const index = new LabelIndex();
    for (let i = 0; i < 100; i++) index.updateItem(`i${i}`, { team: `t${i % 10}`, app: "x" });
    const before = index.evaluations;
    index.updateSelector("s", and(has("app"), inSet("team", ["t1", "t2"])));
    assert.equal(index.evaluations - before, 20);
    assert.equal(index.itemsMatching("s").size, 20);
    // A new item is tested against it only when it carries one of the values.
    const n = index.evaluations;
    index.updateItem("new", { team: "t3", app: "x" });
    assert.equal(index.evaluations, n);
    index.updateItem("new", { team: "t2", app: "x" });
    assert.ok(index.itemsMatching("s").has("new"));
    index.updateItem("new", { team: "t5", app: "x" });
    assert.ok(!index.itemsMatching("s").has("new"));
  });
});
