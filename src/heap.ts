// How far V8 lets the heap grow past what is live before a full collection.
// V8's default lets the old generation reach about twice the live heap
// under steady churn, which doubles the agent's RSS; Felix bounds the Go
// heap the same way (FelixConfiguration goGCThreshold, default 40). V8 adds
// the young generation's size (32 MB) to every limit, and on a loaded node its
// concurrent marking finishes late, so the default here is lower: 20.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * FELIX_HEAPGROWTHPERCENT's default. At the large preset after 3,000 changes
 * (bench/agent-memory.ts, Kubernetes daemon, both at once on a loaded machine):
 * 40 peaked at 523 MB, 20 at 428 MB, for the same CPU (43 s).
 */
export const DEFAULT_HEAP_GROWTH_PERCENT = 20;

/**
 * Sets the growth percentage for every later heap limit (0: V8's own
 * heuristics). The daemon sets it as it starts: left to V8, the start-up let
 * garbage reach ~100 MB over the ~200 MB live at the large preset, and the
 * limit it reached carried into the first changes. Bounded from the start: the
 * peak 20-30 MB lower for ~8% more CPU in the cold start (bench/agent-memory.ts).
 * Set only once the cold start was programmed (then one full collection), the
 * daemon's VmHWM still climbed from 339 to 451 MB over the bench's 330 sampled
 * writes (the pages V8 took during the start-up stay). `--once` never sets it:
 * it exits after one apply, and bounded it used 9.1-9.7 s of user CPU at the
 * large preset against 8.2-8.3 s unbounded (3 alternating pairs), for a peak
 * RSS within 1-6 MB.
 */
export function limitHeapGrowth(percent: number): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}

type Gc = (o: { type: "minor" | "major"; execution?: "sync" | "async" }) => void;

/** V8's gc(), exposed at run time: a context made after the flag is set has it. */
function exposedGc(): Gc {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as Gc;
}

/**
 * A scavenge when the daemon has nothing left to do (an apply done, no batch waiting): the next
 * change starts with an empty young generation and, making 1-3 MB at the large preset, finishes
 * before filling it. Without it a collection fell inside one sampled change in four (4-18 ms each,
 * up to 42 on a loaded machine); with it, in one of 80 (bench/sample-trace.ts, nftables, four
 * kinds × 20). What survives is the new snapshot's fresh parts, copied here instead of at the
 * next scavenge: ~1 ms, off the change's path.
 */
export class IdleScavenger {
  private gc: Gc | undefined;

  constructor(private readonly collect: () => Gc = exposedGc) {}

  idle(): void {
    this.gc ??= this.collect();
    this.gc({ type: "minor" });
  }
}
