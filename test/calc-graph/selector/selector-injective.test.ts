// A selector value with quotes never makes two selectors share an IP set: the
// canonical text (the set id's input) parses back to the very same selector,
// for any keys and values, so it is injective.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { selectorSet } from "../../../calc-graph/ipsets/ids.js";
import { parseSelector } from "../../../calc-graph/selector/parse.js";
import {
  and,
  eq,
  has,
  inSet,
  neq,
  not,
  notIn,
  or,
  type Selector,
  selectorText,
} from "../../../calc-graph/selector/selector.js";

const hostile = fc.oneof(
  fc.constantFrom("", "'", '"', "\\", `'"`, `x' || k == "y`, `a" && b == 'c`, '$"x"', "}", ", ", "\n-F INPUT", "all()"),
  fc.string({ maxLength: 12, unit: "binary" }),
  fc.stringMatching(/^['"\\${}(),=!|& a-z]{0,10}$/),
);
const key = fc.oneof(fc.constantFrom("app", "pcns.team", "all", "has", "in", "not"), hostile);

const selector: fc.Arbitrary<Selector> = fc.letrec<{ sel: Selector }>((tie) => ({
  sel: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    key.map(has),
    fc.tuple(key, hostile).map(([k, v]) => eq(k, v)),
    fc.tuple(key, hostile).map(([k, v]) => neq(k, v)),
    fc.tuple(key, fc.array(hostile, { maxLength: 3 })).map(([k, vs]) => inSet(k, vs)),
    fc.tuple(key, fc.array(hostile, { maxLength: 3 })).map(([k, vs]) => notIn(k, vs)),
    tie("sel").map(not),
    fc.array(tie("sel"), { maxLength: 3 }).map((ss) => and(...ss)),
    fc.array(tie("sel"), { maxLength: 3 }).map((ss) => or(...ss)),
  ),
})).sel;

describe("selector canonical text is injective", () => {
  it("parses back to the same selector, whatever the keys and values hold", () => {
    fc.assert(
      fc.property(selector, (s) => {
        assert.deepEqual(parseSelector(selectorText(s)), s);
      }),
      { numRuns: 2000 },
    );
  });

  it("two distinct selectors never share a text or an IP set", () => {
    fc.assert(
      fc.property(selector, selector, (a, b) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b));
        assert.notEqual(selectorText(a), selectorText(b));
        assert.notEqual(selectorSet(a).id, selectorSet(b).id);
      }),
      { numRuns: 2000 },
    );
  });

  it("the crafted pair that used to collide: one value with both quotes vs an OR of two selectors", () => {
    const crafted = eq("k", `x'" || k == "y'`);
    const honest = or(eq("k", "x'"), eq("k", "y'"));
    assert.notEqual(selectorText(crafted), selectorText(honest));
    assert.notEqual(selectorSet(crafted).id, selectorSet(honest).id);
    assert.equal(selectorText(honest), `k == "x'" || k == "y'"`); // Calico-writable text is unchanged
  });
});
