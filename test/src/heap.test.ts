import assert from "node:assert/strict";
import { constants, PerformanceObserver } from "node:perf_hooks";
import { test } from "node:test";
import { IdleScavenger } from "../../src/heap.js";

test("IdleScavenger: each idle call is one scavenge, with V8's gc() exposed at run time", async () => {
  const kinds: number[] = [];
  const seen = new Promise<void>((resolve) => {
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) kinds.push((e as unknown as { detail: { kind: number } }).detail.kind);
      if (kinds.includes(constants.NODE_PERFORMANCE_GC_MINOR)) {
        obs.disconnect();
        resolve();
      }
    });
    obs.observe({ entryTypes: ["gc"] });
  });
  new IdleScavenger().idle();
  await seen;
  assert.ok(kinds.includes(constants.NODE_PERFORMANCE_GC_MINOR));

  const calls: unknown[] = [];
  const s = new IdleScavenger(() => (o) => calls.push(o));
  s.idle();
  s.idle();
  assert.deepEqual(calls, [{ type: "minor" }, { type: "minor" }]);
});
