// The daemon's collection between changes: only after the loop has been idle
// for idleMs, only when the heap grew enough since the last one, never while
// work is coming in; FELIX_IDLEGCMS configures it and Node's real collector runs.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { agentConfigFromEnv, ConfigError } from "../../src/config.js";
import { IdleCollector } from "../../src/idle-gc.js";

const MB = 2 ** 20;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rig(idleMs = 20) {
  const heap = { used: 200 * MB, collected: 0 };
  const gc = new IdleCollector({
    idleMs,
    heapUsed: () => heap.used,
    collect: () => {
      heap.collected++;
      heap.used = 200 * MB;
    },
  });
  return { heap, gc };
}

describe("IdleCollector", () => {
  test("collects once idle for idleMs after the heap grew by 10% of the live heap (at least 16 MB)", async () => {
    const { heap, gc } = rig();
    heap.used = 215 * MB; // 15 MB: under 20 MB (10% of 200)
    gc.idle();
    await wait(60);
    assert.equal(heap.collected, 0, "not grown enough");
    heap.used = 225 * MB;
    gc.idle();
    await wait(60);
    assert.equal(heap.collected, 1);
    assert.equal(gc.collections, 1);
  });

  test("work that arrives before idleMs passes cancels it; the next idle period collects", async () => {
    const { heap, gc } = rig(40);
    heap.used = 300 * MB;
    gc.idle();
    await wait(10);
    gc.busy();
    await wait(80);
    assert.equal(heap.collected, 0, "no collection while busy");
    gc.idle();
    await wait(80);
    assert.equal(heap.collected, 1);
  });

  test("a heap V8 shrank on its own is the new baseline", async () => {
    const { heap, gc } = rig();
    heap.used = 100 * MB; // V8 collected: 100 MB live
    gc.idle();
    await wait(50);
    heap.used = 120 * MB; // +20 MB over 100: due (16 MB minimum)
    gc.idle();
    await wait(50);
    assert.equal(heap.collected, 1);
  });

  test("idleMs 0 never collects", async () => {
    const { heap, gc } = rig(0);
    heap.used = 900 * MB;
    gc.idle();
    await wait(30);
    assert.equal(heap.collected, 0);
  });

  test("Node's own collector, exposed at run time, runs a full collection", async () => {
    let ran = false;
    let used = 0;
    // A heap that always reads as grown: the collection is due; the collector itself is the real one.
    const heapUsed = () => (used += 100 * MB);
    const gc = new IdleCollector({ idleMs: 5, heapUsed, onCollected: () => (ran = true) });
    let garbage: object | undefined = { big: new Array(100_000).fill(1) };
    const ref = new WeakRef(garbage);
    garbage = undefined;
    gc.idle();
    await wait(100);
    assert.equal(gc.collections, 1);
    assert.ok(ran);
    assert.equal(ref.deref(), undefined, "the unreachable object is gone");
  });
});

test("FELIX_IDLEGCMS: 250 by default, 0 disables, anything else is a clear config error", () => {
  assert.equal(agentConfigFromEnv({}).idleGcMs, 250);
  assert.equal(agentConfigFromEnv({ FELIX_IDLEGCMS: "0" }).idleGcMs, 0);
  assert.equal(agentConfigFromEnv({ FELIX_IDLEGCMS: "1000" }).idleGcMs, 1000);
  for (const bad of ["abc", "-1", "2.5"]) {
    assert.throws(
      () => agentConfigFromEnv({ FELIX_IDLEGCMS: bad }),
      (e: Error) => e instanceof ConfigError && /FELIX_IDLEGCMS must be a whole number of milliseconds/.test(e.message),
      bad,
    );
  }
});
