// The history-replay harness of the incremental property tests: a random
// sequence of changes, applied in random batches to a graph seeded with a
// base, must end in the snapshot a fresh graph computes from the base and the
// final objects alone (no hysteresis, no dependence on batching).

import assert from "node:assert/strict";
import fc from "fast-check";
import { CalcGraph, computeDesiredState, type GraphConfig } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { renderState } from "./fixtures.js";

/** Applies `updates` to `g` in batches cut at `cuts` (positions; out-of-range ones ignored). */
export function applyInBatches(g: CalcGraph, updates: readonly ResourceUpdate[], cuts: readonly number[]): void {
  const points = [...new Set([0, ...cuts.filter((c) => c < updates.length), updates.length])].sort((a, b) => a - b);
  for (let i = 0; i + 1 < points.length; i++) g.apply(updates.slice(points[i], points[i + 1]));
}

/** The objects a history leaves: each one's last update, deleted ones left out. */
export function finalObjects(updates: readonly ResourceUpdate[]): ResourceUpdate[] {
  const last = new Map<string, ResourceUpdate>();
  for (const u of updates) last.set(`${u.kind}/${u.namespace}/${u.name}`, u);
  return [...last.values()].filter((u) => u.value !== null);
}

/**
 * The property: after `base`, any history of up to 25 `change`s in up to 6
 * batches renders (tables, sets, routes…) and reports problems exactly as a
 * fresh graph of the final objects does.
 */
export function historyEndsInFinalState(
  base: readonly ResourceUpdate[],
  change: fc.Arbitrary<ResourceUpdate>,
  cfg: GraphConfig = { nodeName: "node1" },
): fc.IPropertyWithHooks<[ResourceUpdate[], number[]]> {
  return fc.property(
    fc.array(change, { minLength: 1, maxLength: 25 }),
    fc.array(fc.nat(25), { maxLength: 5 }),
    (changes, cuts) => {
      const g = new CalcGraph(cfg);
      g.apply(base);
      applyInBatches(g, changes, cuts);
      const fresh = computeDesiredState(cfg, [...base, ...finalObjects(changes)]);
      assert.equal(renderState(g.current), renderState(fresh));
      assert.deepEqual(g.current.problems, fresh.problems);
    },
  );
}

/**
 * Applies `updates` one at a time and asserts that `view` of the result equals
 * `view` of a fresh graph of the final objects (for properties that compare
 * more, or less, than renderState).
 */
export function assertOneByOneEndsAsFresh(
  updates: readonly ResourceUpdate[],
  view: (s: DesiredState) => unknown,
  cfg: GraphConfig,
): void {
  const g = new CalcGraph(cfg);
  for (const u of updates) g.apply([u]);
  const fresh = new CalcGraph(cfg);
  fresh.apply(finalObjects(updates));
  assert.deepEqual(view(g.current), view(fresh.current));
}
