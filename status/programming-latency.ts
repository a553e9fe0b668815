// Network programming latency: from a datastore batch being seen to the
// first successful apply of a DesiredState that includes it (the
// felix_network_programming_duration_seconds histogram; kube-proxy's
// network_programming_duration_seconds is the model).
//
// Snapshots are cumulative, so applying state S programs every batch seen up
// to the one that produced S. Batches seen while an apply runs wait for the
// next one; a failed apply programs nothing and they wait for the retry.

export interface Observer {
  observe(seconds: number): void;
}

interface Pending {
  readonly state: object;
  readonly seenMs: number;
}

export class ProgrammingLatency {
  private pending: Pending[] = [];

  /** `now` returns milliseconds (default performance.now: monotonic). */
  constructor(
    private readonly histogram: Observer,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A batch was seen (call with the time it arrived) and produced `state`. */
  seen(state: object, seenMs: number = this.now()): void {
    this.pending.push({ state, seenMs });
  }

  /** `state` was applied successfully: observes every batch it includes; returns how many. */
  programmed(state: object): number {
    let last = -1;
    for (let i = this.pending.length - 1; i >= 0; i--) {
      if (this.pending[i].state === state) {
        last = i;
        break;
      }
    }
    if (last < 0) return 0;
    const t = this.now();
    const done = this.pending.slice(0, last + 1);
    this.pending = this.pending.slice(last + 1);
    for (const p of done) this.histogram.observe(Math.max(0, (t - p.seenMs) / 1000));
    return done.length;
  }

  /** Batches not yet programmed. */
  get waiting(): number {
    return this.pending.length;
  }
}
