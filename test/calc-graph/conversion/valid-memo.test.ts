import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MEMO_CHARS, MEMO_ENTRIES, ValidMemo } from "../../../calc-graph/conversion/valid-memo.js";
import { dns1123Subdomain } from "../../../calc-graph/conversion/validate.js";
import { liveHeap } from "../../helpers/live-heap.js";

/** A memo whose check counts its calls per string. */
function counted(valid = (s: string) => !s.includes("!")) {
  const calls = new Map<string, number>();
  const memo = new ValidMemo((s) => {
    calls.set(s, (calls.get(s) ?? 0) + 1);
    return valid(s);
  });
  return { memo, calls: (s: string) => calls.get(s) ?? 0 };
}

describe("ValidMemo", () => {
  test("stays within two generations of entries and characters under a stream of unique strings", () => {
    const { memo } = counted();
    for (let i = 0; i < 100_000; i++) {
      assert.ok(memo.has(`pod-${i}-${"x".repeat(i % 90)}`));
      if (i % 997 === 0) {
        const { entries, chars } = memo.size;
        assert.ok(entries <= 2 * MEMO_ENTRIES, `${entries} entries`);
        assert.ok(chars <= 2 * MEMO_CHARS, `${chars} characters`);
      }
    }
  });

  test("a string checked again stays memoized however many unique ones pass in between", () => {
    const { memo, calls } = counted();
    for (let i = 0; i < 200_000; i++) {
      memo.has(`unique-pod-name-${i}`);
      if (i % 1000 === 0) assert.ok(memo.has("kubernetes.io/metadata.name"));
    }
    assert.equal(calls("kubernetes.io/metadata.name"), 1);
    assert.ok(calls("unique-pod-name-5") === 1);
  });

  test("an invalid string is never memoized; a longer string than the bound is checked each time", () => {
    const { memo, calls } = counted();
    for (let i = 0; i < 3; i++) assert.equal(memo.has("bad!"), false);
    assert.equal(calls("bad!"), 3);
    const huge = "y".repeat(MEMO_CHARS + 1);
    for (let i = 0; i < 2; i++) assert.ok(memo.has(huge));
    assert.equal(calls(huge), 2);
    assert.ok(memo.size.chars <= MEMO_CHARS);
  });

  test("a tenant's unique names do not stay in the agent: retained memory after 200,000 of 250 characters", () => {
    // Unbounded, each would keep ~270 bytes (54 MB); the former cap of 50,000 kept 13 MB for good.
    const segment = "a".repeat(60);
    const name = (i: number) => `${segment}.${segment}.${segment}.${String(i).padStart(60, "0")}`;
    assert.equal(dns1123Subdomain(name(-1), "warm-up"), undefined);
    const before = liveHeap();
    for (let i = 0; i < 200_000; i++) assert.equal(dns1123Subdomain(name(i), "metadata.name"), undefined);
    const kept = liveHeap() - before;
    assert.ok(kept < 3_000_000, `${kept} bytes kept`);
  });
});
