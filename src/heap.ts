// How far V8 lets the heap grow past what is live before a full collection.
// V8's default lets the old generation reach about twice the live heap
// under steady churn, which doubles the agent's RSS; Felix bounds the Go
// heap the same way (FelixConfiguration goGCThreshold, default 40).

import { setFlagsFromString } from "node:v8";

/** FELIX_HEAPGROWTHPERCENT's default: Felix's goGCThreshold default. */
export const DEFAULT_HEAP_GROWTH_PERCENT = 40;

/**
 * Sets the growth percentage for every later heap limit (0: V8's own
 * heuristics). The agent sets it as it starts, `--once` too: left to V8, the
 * start-up let garbage reach ~100 MB over the ~200 MB live at the large
 * preset, and the limit it reached carried into the first changes. Bounded
 * from the start: the peak 20-30 MB lower for ~8% more CPU in the cold start
 * (bench/agent-memory.ts).
 */
export function limitHeapGrowth(percent: number): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
