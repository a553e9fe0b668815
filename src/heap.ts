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
 * Sets the growth percentage for every later heap limit (0: V8's own heuristics). The daemon sets
 * it once its cold start is programmed (IdleScavenger's `afterStart`); `--once` never does. Bounded
 * from the start, the large preset's `felix --once` used 9.1-9.7 s of user CPU against 8.2-8.3 s
 * with V8's own growth (three alternating pairs; the collector marking a heap that grows from
 * nothing to ~250 MB again and again), for a peak RSS within 1-6 MB (306 against 306-312 MB).
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

  /**
   * `afterStart` runs at the first idle call (the cold start programmed), followed by one full
   * collection instead of the scavenge: the limit V8 set during the start-up (about twice the
   * live heap) is recomputed under the bound at once, not carried into the first changes.
   */
  constructor(
    private readonly collect: () => Gc = exposedGc,
    private afterStart?: () => void,
  ) {}

  idle(): void {
    this.gc ??= this.collect();
    const started = this.afterStart;
    if (started) {
      this.afterStart = undefined;
      started();
      this.gc({ type: "major" });
      return;
    }
    this.gc({ type: "minor" });
  }
}
