// How far V8 lets the heap grow past what is live before a full collection.
// V8's default lets the old generation reach about twice the live heap
// under steady churn, which doubles the agent's RSS; Felix bounds the Go
// heap the same way (FelixConfiguration goGCThreshold, default 40).

import { setFlagsFromString } from "node:v8";

/** FELIX_HEAPGROWTHPERCENT's default: Felix's goGCThreshold default. */
export const DEFAULT_HEAP_GROWTH_PERCENT = 40;

/**
 * Sets the growth percentage for every later heap limit (0: V8's own
 * heuristics). The agent sets it once its start-up snapshot is programmed:
 * start-up grows the heap from nothing, and bounding each step of that
 * growth would only add full collections to it.
 */
export function limitHeapGrowth(percent: number): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
