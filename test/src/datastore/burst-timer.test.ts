// When the file datastore's pass runs (BurstTimer), on mocked timers: a lone
// write is cut after the short quiet; two files, a name that is not a
// manifest, or work without a name wait for the full quiet period; after a
// cut the rest of the burst is one batch; a new burst may be cut again; the
// deadline bounds a burst that never goes quiet.

import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import { BurstTimer } from "../../../src/datastore/burst-timer.js";

const QUIET = 20;
const LONE = 2;
let now = 0;
let passes: number[] = [];
let timer: BurstTimer;

beforeEach(() => {
  mock.timers.enable({ apis: ["setTimeout"] });
  now = 0;
  passes = [];
  timer = new BurstTimer(() => passes.push(now), {
    quietMs: QUIET,
    loneMs: LONE,
    maxDelayMs: 100,
    isManifest: (p) => /\.ya?ml$/.test(p),
  });
});
afterEach(() => {
  timer.stop();
  mock.timers.reset();
});

/** Advances the clock (mocked timers and `now`) by ms, one millisecond at a time. */
function tick(ms: number): void {
  for (let i = 0; i < ms; i++) {
    now++;
    mock.timers.tick(1);
  }
}
const event = (path: string | undefined) => timer.event(path, now);

test("a lone write (its hidden temp file, then the rename) goes after the short quiet", () => {
  event("/d/.123.tmp");
  event("/d/.123.tmp");
  event("/d/pods.yaml");
  tick(LONE);
  assert.deepEqual(passes, [LONE]);
});

test("a temp file written for longer than the short quiet: the rename is still cut short (the temp file alone cuts nothing)", () => {
  event("/d/.123.tmp");
  tick(LONE + 3);
  event("/d/.123.tmp");
  tick(LONE + 3);
  assert.deepEqual(passes, [], "nothing to read yet");
  const t = now;
  event("/d/pods.yaml");
  tick(LONE);
  assert.deepEqual(passes, [t + LONE]);
});

test("a hidden file alone (a temp file never renamed) passes after the full quiet", () => {
  event("/d/.123.tmp");
  tick(QUIET + 5);
  assert.deepEqual(passes, [QUIET]);
});

test("a burst naming two files waits for the full quiet period, as one pass", () => {
  event("/d/a.yaml");
  event("/d/b.yaml");
  tick(QUIET + 5);
  assert.deepEqual(passes, [QUIET]);
});

test("a name that is not a manifest (a directory?) and work without a name wait for the full quiet", () => {
  event("/d/sub");
  tick(QUIET + 5);
  event(undefined);
  tick(QUIET + 5);
  timer.schedule();
  tick(QUIET + 5);
  assert.deepEqual(passes, [QUIET, 2 * QUIET + 5, 3 * QUIET + 10]);
});

test("once a burst's first batch is cut, its rest is one batch after the full quiet; a later burst is cut again", () => {
  event("/d/a.yaml");
  tick(LONE + 3); // cut: the first file goes alone
  event("/d/b.yaml");
  tick(4);
  event("/d/c.yaml");
  tick(QUIET + 5);
  assert.deepEqual(passes, [LONE, LONE + 3 + 4 + QUIET], "b and c together");
  tick(QUIET); // silence: a new burst
  const t = now;
  event("/d/d.yaml");
  tick(LONE);
  assert.deepEqual(passes.slice(2), [t + LONE]);
});

test("a burst that never goes quiet passes at the deadline", () => {
  event("/d/a.yaml");
  event("/d/b.yaml");
  for (let i = 0; i < 12; i++) {
    tick(QUIET - 1);
    event(`/d/f${i}.yaml`);
  }
  assert.equal(passes[0], 100);
});
