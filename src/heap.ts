// How far V8 lets the heap grow past what is live before a full collection.
// V8's default lets the old generation reach about twice the live heap
// under steady churn, which doubles the agent's RSS; Felix bounds the Go
// heap the same way (FelixConfiguration goGCThreshold, default 40).

import { setFlagsFromString } from "node:v8";

/** FELIX_HEAPGROWTHPERCENT's default: Felix's goGCThreshold default. */
export const DEFAULT_HEAP_GROWTH_PERCENT = 40;

/** Applies a growth percentage (0 keeps V8's own heuristics). Call early: it shapes every later heap limit. */
export function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
