import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { changedKeys, copyDict, dict, dictFrom } from "../../model/dict.js";

describe("dict records", () => {
  it("have no prototype, and neither do their copies", () => {
    const d = dictFrom([["a", 1]]);
    assert.equal(Object.getPrototypeOf(d), null);
    assert.equal(Object.getPrototypeOf(copyDict(d)), null);
    assert.deepEqual(Object.keys(copyDict(d)), ["a"]);
  });

  it("hold a key named __proto__ as an ordinary key (a name cannot replace the prototype)", () => {
    const d = dict<number>();
    const key = "__proto__"; // as a tenant-written name would arrive: a computed key
    d[key] = 1;
    assert.equal(Object.getPrototypeOf(d), null);
    assert.deepEqual(Object.keys(d), ["__proto__"]);
    assert.deepEqual(Object.keys(copyDict(d)), ["__proto__"]);
  });
});

describe("changedKeys", () => {
  const x = { v: 1 };
  const y = { v: 1 };
  it("names the added, removed and replaced keys, not the same objects", () => {
    assert.deepEqual(changedKeys({ a: x, b: x, c: x }, { a: x, b: y, d: x }).sort(), ["b", "c", "d"]);
    const same = { a: x };
    assert.deepEqual(changedKeys(same, same), []);
  });

  it("counts own keys only: a key named like an Object.prototype member is added and removed like any other", () => {
    assert.deepEqual(changedKeys<object>({}, { toString: x }), ["toString"]);
    assert.deepEqual(changedKeys<object>({ constructor: x }, {}), ["constructor"]);
    assert.deepEqual(changedKeys<object>(dict(), dictFrom([["hasOwnProperty", x]])), ["hasOwnProperty"]);
  });
});
