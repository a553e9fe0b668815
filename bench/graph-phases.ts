// The runner's in-memory phases: the calculation graph fed the synthetic cluster
// with no kernel. Cold start (timed, then split into convert+index and flush on a
// second graph), incremental samples per kind of change, the burst of random
// changes (throughput) and the memory after each.

import { CalcGraph, type GraphConfig } from "../calc-graph/calc-graph.js";
import { NFT_RULES } from "../nftables/render.js";
import { limitHeapGrowth } from "../src/heap.js";
import { dist, evaluations, type Mem, memory, sampleGraph, stateSize } from "./measure.js";
import type { PresetResult } from "./preset-result.js";
import { progress } from "./progress.js";
import type { RunOptions } from "./run-options.js";
import type { SyntheticCluster } from "./scale.js";
import { LOCAL_NODE } from "./scale-spec.js";

/**
 * Does the graph hold more after the changes than a graph built from scratch
 * on the same final state? Called once `graphPhases` has returned, so its
 * graph is garbage; the fresh one is garbage again when this returns.
 */
export function freshGraphHeap(
  o: RunOptions,
  cluster: SyntheticCluster,
  memChanged: Mem,
  into: NonNullable<PresetResult["memory"]>["graphHeapMB"],
): void {
  const current = cluster.currentUpdates();
  const memNone = memory();
  const fresh = new CalcGraph(graphConfig(o));
  fresh.apply(current);
  const memFresh = memory();
  into.afterChanges = memChanged.heapUsedMB - memNone.heapUsedMB;
  into.freshOfFinalState = memFresh.heapUsedMB - memNone.heapUsedMB;
}

// kube-proxy's nftables layout exists only as nft rules.
const graphConfig = (o: RunOptions): GraphConfig => ({
  nodeName: LOCAL_NODE,
  proxyMode: o.proxyMode,
  ...(o.proxyMode === "nftables" ? { ruleRenderer: NFT_RULES } : {}),
});

/**
 * The timed cold start, `new CalcGraph(...).apply(all updates)`, on a graph
 * of its own that is garbage on return (with its snapshot). No
 * forced GC precedes it, as none precedes the daemon's first snapshot: a
 * full collection shrinks V8's young generation, and growing it back cost
 * the cold start ~150 ms at large.
 */
function coldStart(o: RunOptions, cluster: SyntheticCluster): NonNullable<PresetResult["cold"]> {
  const t0 = performance.now();
  const graph = new CalcGraph(graphConfig(o));
  const state = graph.apply(cluster.updates);
  const graphMs = performance.now() - t0;
  return {
    graphMs,
    state: stateSize(state),
    evaluations: evaluations(graph),
    chainsRendered: graph.builder.stats.chainsRendered,
  };
}

/** The same work as apply(), split and timed, on a second graph: the one the later phases use. */
function coldBreakdown(o: RunOptions, cluster: SyntheticCluster, timed: boolean) {
  const graph = new CalcGraph(graphConfig(o));
  const b0 = performance.now();
  for (const u of cluster.updates) graph.converter.apply(u);
  const b1 = performance.now();
  graph.builder.flush();
  const breakdown = timed ? { convertIndexMs: b1 - b0, flushMs: performance.now() - b1 } : undefined;
  return { graph, breakdown };
}

/**
 * Cold start, incremental samples and the burst of random changes on one
 * graph, which lives only in this frame. Returns the memory after the changes
 * (with the graph alive), when they ran.
 */
export function graphPhases(cluster: SyntheticCluster, o: RunOptions, result: PresetResult): Mem | undefined {
  const phases = new Set(o.only);
  const preset = result.preset;
  // The agent's heap setting, from its start on (src/heap.ts; no kernel here).
  limitHeapGrowth(o.heapGrowthPercent);
  result.cold = coldStart(o, cluster);
  progress(`${preset}: cold start ${result.cold.graphMs.toFixed(0)} ms`);
  // The inputs alone, now that the timed graph is garbage; then a second graph carries on.
  const memInputs = memory();
  const { graph, breakdown } = coldBreakdown(o, cluster, o.breakdown && phases.has("cold"));
  result.cold.breakdown = breakdown;
  const memCold = memory();
  result.memory = {
    inputs: memInputs,
    afterColdStart: memCold,
    graphHeapMB: { afterColdStart: memCold.heapUsedMB - memInputs.heapUsedMB },
  };

  // Incremental, render only.
  if (phases.has("incremental")) {
    result.incremental = { samples: o.samples, warmup: o.warmup, kinds: {} };
    for (const kind of o.kinds) {
      result.incremental.kinds[kind] = sampleGraph(cluster, graph, kind, o.samples, o.warmup);
    }
    progress(`${preset}: incremental done`);
  }

  // Throughput: a burst of random changes, committed, in batches; then memory.
  if (phases.has("throughput") || phases.has("memory")) {
    const changes: ReturnType<SyntheticCluster["randomChange"]>[] = [];
    for (let i = 0; i < o.changes; i++) changes.push(cluster.randomChange());
    const batches: (typeof changes)[number][] = [];
    const size = Math.max(1, o.batch);
    for (let i = 0; i < changes.length; i += size) batches.push(changes.slice(i, i + size).flat());
    changes.length = 0;
    const batchMs: number[] = [];
    let updates = 0;
    for (const b of batches) {
      const s0 = performance.now();
      graph.apply(b);
      batchMs.push(performance.now() - s0);
      updates += b.length;
    }
    const seconds = batchMs.reduce((s, x) => s + x, 0) / 1000;
    batches.length = 0;
    if (phases.has("throughput")) {
      result.throughput = {
        changes: o.changes,
        batch: size,
        updates,
        seconds,
        updatesPerSec: updates / seconds,
        batchMs: dist(batchMs),
      };
    }
    const memChanged = memory();
    result.memory!.afterChanges = memChanged;
    result.memory!.changes = o.changes;
    progress(`${preset}: ${o.changes} random changes in ${seconds.toFixed(2)} s`);
    return memChanged;
  }
  return undefined;
}
