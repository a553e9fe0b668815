// Measurement helpers shared by the benchmark runner and its kernel child:
// percentiles, snapshot diffs by reference, state sizes, memory, and the
// incremental sampling loop.

import type { CalcGraph } from "../calc-graph/calc-graph.js";
import type { DesiredState } from "../calc-graph/desired-state.js";
import { changedIpSets, ipSetCount, ipSetList } from "../model/ipset-shards.js";
import { chainList, changedChains, TABLE_NAMES } from "../model/tables.js";
import type { Change, ChangeKind, SyntheticCluster } from "./scale.js";

/** Nearest-rank percentile of unsorted samples (NaN when there are none). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export interface Dist {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
  /** Samples (under 100, p99 is the maximum). */
  readonly n?: number;
}

export function dist(xs: readonly number[]): Dist {
  return {
    p50: percentile(xs, 50),
    p99: percentile(xs, 99),
    max: xs.length ? Math.max(...xs) : Number.NaN,
    mean: xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : Number.NaN,
    n: xs.length,
  };
}

export interface SnapshotDiff {
  /** Chains (both families, all tables) whose object differs. */
  readonly chains: number;
  readonly ipsets: number;
  readonly endpoints: number;
  readonly routes: number;
}

function diffKeys(x: Readonly<Record<string, unknown>>, y: Readonly<Record<string, unknown>>): number {
  if (x === y) return 0;
  let n = 0;
  for (const k in x) if (x[k] !== y[k]) n++;
  for (const k in y) if (!(k in x)) n++;
  return n;
}

/** What changed between two snapshots, by reference (immer keeps unchanged parts). */
export function diffSnapshots(a: DesiredState, b: DesiredState): SnapshotDiff {
  let chains = 0;
  for (const fam of ["ipv4", "ipv6"] as const) {
    for (const t of TABLE_NAMES) chains += changedChains(a.iptables[fam][t], b.iptables[fam][t]).length;
  }
  return {
    chains,
    ipsets: changedIpSets(a.ipsets, b.ipsets).length,
    endpoints: diffKeys(a.endpoints, b.endpoints),
    routes: diffKeys(a.routes, b.routes),
  };
}

export interface StateSize {
  readonly chains: number;
  readonly rules: number;
  readonly ipsets: number;
  readonly ipsetMembers: number;
  readonly endpoints: number;
  readonly routes: number;
  readonly sysctls: number;
  readonly problems: number;
}

export function stateSize(s: DesiredState): StateSize {
  let chains = 0;
  let rules = 0;
  for (const fam of ["ipv4", "ipv6"] as const) {
    for (const t of TABLE_NAMES) {
      for (const c of chainList(s.iptables[fam][t])) {
        chains++;
        rules += c.rules.length;
      }
    }
  }
  let ipsetMembers = 0;
  for (const set of ipSetList(s.ipsets)) ipsetMembers += set.members.size;
  return {
    chains,
    rules,
    ipsets: ipSetCount(s.ipsets),
    ipsetMembers,
    endpoints: Object.keys(s.endpoints).length,
    routes: Object.keys(s.routes).length,
    sysctls: Object.keys(s.sysctls).length,
    problems: Object.keys(s.problems).length,
  };
}

const gcFn = (globalThis as { gc?: () => void }).gc;

export const hasGc = () => typeof gcFn === "function";

export function gcNow(): void {
  if (!gcFn) return;
  gcFn();
  gcFn();
}

export interface Mem {
  readonly rssMB: number;
  readonly heapUsedMB: number;
}

/** RSS and heap used, after a full GC when available. */
export function memory(): Mem {
  gcNow();
  const m = process.memoryUsage();
  return { rssMB: m.rss / 2 ** 20, heapUsedMB: m.heapUsed / 2 ** 20 };
}

/** Selector evaluations so far, over both label indexes. */
export const evaluations = (g: CalcGraph) => g.active.labels.evaluations + g.ipsets.labels.evaluations;

export interface GraphSample {
  readonly graphMs: number;
  readonly diff: SnapshotDiff;
  readonly evals: number;
  readonly chainsRendered: number;
}

/** Applies one change to the graph, timed; `diff` compares the snapshots by reference. */
export function timeGraphChange(graph: CalcGraph, change: Change): { sample: GraphSample; state: DesiredState } {
  const before = graph.current;
  const e0 = evaluations(graph);
  const r0 = graph.builder.stats.chainsRendered;
  const t0 = performance.now();
  const state = graph.apply(change.forward);
  const graphMs = performance.now() - t0;
  return {
    sample: {
      graphMs,
      diff: diffSnapshots(before, state),
      evals: evaluations(graph) - e0,
      chainsRendered: graph.builder.stats.chainsRendered - r0,
    },
    state,
  };
}

export interface KindResult {
  readonly samples: number;
  readonly graphMs: Dist;
  readonly chainsChanged: Dist;
  readonly ipsetsChanged: Dist;
  readonly evaluations: Dist;
  readonly chainsRendered: Dist;
}

export function summarizeGraphSamples(xs: readonly GraphSample[]): KindResult {
  return {
    samples: xs.length,
    graphMs: dist(xs.map((s) => s.graphMs)),
    chainsChanged: dist(xs.map((s) => s.diff.chains)),
    ipsetsChanged: dist(xs.map((s) => s.diff.ipsets)),
    evaluations: dist(xs.map((s) => s.evals)),
    chainsRendered: dist(xs.map((s) => s.chainsRendered)),
  };
}

/**
 * Render-only sampling: `warmup` + `samples` changes of one kind, each timed
 * and then reverted (untimed), so every sample starts from the same state.
 */
export function sampleGraph(
  cluster: SyntheticCluster,
  graph: CalcGraph,
  kind: ChangeKind,
  samples: number,
  warmup = 3,
): KindResult {
  const out: GraphSample[] = [];
  for (let i = 0; i < warmup + samples; i++) {
    const change = cluster.change(kind);
    const { sample } = timeGraphChange(graph, change);
    graph.apply(change.revert);
    if (i >= warmup) out.push(sample);
  }
  return summarizeGraphSamples(out);
}
