// Garbage collection while the agent is idle. Node gives V8 no idle time, so
// V8 collects the old generation only when allocation reaches its limit: at
// the large preset each change leaves a few MB behind, and every ~20 changes
// one of them pays for marking a ~250 MB heap (concurrent marking competing
// for the node's cores, then the final pause): the 100-200 ms outliers of the
// per-change p99. Once the daemon has been idle a moment after an apply and
// the heap has grown enough since the last full collection, it collects
// then, so the next change starts with no debt. A change arriving during
// such a collection waits for it (~0.1-0.3 s at large); at the rate changes
// come to a node, that is rarer than the outliers it removes. FELIX_IDLEGCMS=0
// disables it.

import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

export interface IdleGcOptions {
  /** How long the loop must stay idle before collecting (ms); 0 disables. */
  readonly idleMs: number;
  /** Collect only when the heap grew by this fraction of what was live after the last full collection (or by minBytes). */
  readonly growthFraction?: number;
  readonly minBytes?: number;
  /** For tests: the heap in use and a full collection. */
  readonly heapUsed?: () => number;
  readonly collect?: () => void;
  readonly onCollected?: (ms: number, freedBytes: number) => void;
}

/** Node's own collector as a function (the flag is set before the first context that sees `gc` is made). */
function exposedGc(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

export class IdleCollector {
  private timer?: NodeJS.Timeout;
  private baseline: number;
  private readonly heapUsed: () => number;
  private collectFn?: () => void;
  collections = 0;

  constructor(private readonly o: IdleGcOptions) {
    this.heapUsed = o.heapUsed ?? (() => getHeapStatistics().used_heap_size);
    this.baseline = this.heapUsed();
  }

  /** Work arrived: no collection until the loop is idle again. */
  busy(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The loop went idle: collect after idleMs unless work arrives first. */
  idle(): void {
    if (this.o.idleMs <= 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.maybeCollect(), this.o.idleMs);
    this.timer.unref();
  }

  private maybeCollect(): void {
    this.timer = undefined;
    const used = this.heapUsed();
    // V8 collected on its own meanwhile (the heap shrank): measure growth from there.
    this.baseline = Math.min(this.baseline, used);
    const due = Math.max(this.o.minBytes ?? 16 << 20, this.baseline * (this.o.growthFraction ?? 0.1));
    if (used - this.baseline < due) return;
    this.collectFn ??= this.o.collect ?? exposedGc();
    const t0 = performance.now();
    this.collectFn();
    this.baseline = this.heapUsed();
    this.collections++;
    this.o.onCollected?.(performance.now() - t0, used - this.baseline);
  }

  stop(): void {
    this.busy();
  }
}
