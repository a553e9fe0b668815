// The agent's main loop:
//
//   datastore batches ──► CalcGraph (pure) ──► latest DesiredState ──► Dataplane.apply()
//   refresh timer ─────────────────────────────► resync + apply        (one at a time;
//   link events (new cali* interface) ─────────► apply                  bursts coalesce)
//
// Programming starts only after the datastore's first complete batch (in
// sync), so a restart never programs a partial view. A failed apply is logged,
// counted and retried with backoff; the daemon itself never exits on one.
// SIGTERM/SIGINT stop it cleanly and leave the programmed dataplane in place,
// so established connections survive a restart.

import type { Logger } from "pino";
import type { Observable, Subscription } from "rxjs";
import { CalcGraph, type GraphConfig } from "../calc-graph/calc-graph.js";
import type { DesiredState } from "../calc-graph/desired-state.js";
import type { Metrics } from "../status/metrics.js";
import type { ApplyResult, Dataplane } from "./dataplane.js";
import type { ResourceUpdate } from "./model/resource.js";

export interface DaemonOptions {
  readonly graph: GraphConfig;
  readonly updates: Observable<ResourceUpdate[]>;
  readonly dataplane: Dataplane;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Seconds between full re-reads of the kernel (FELIX_IPTABLESREFRESHINTERVAL); 0 disables. */
  readonly refreshIntervalSecs: number;
  /** Link events that should trigger an apply (routes/sysctls waiting for an interface). */
  readonly linkEvents?: Observable<unknown>;
}

const MAX_BACKOFF_MS = 30_000;

/** The log fields describing one apply. */
export function summary(r: ApplyResult) {
  return {
    changes: r.changes,
    iptablesBytes: r.iptablesBytes,
    ipsetBytes: r.ipsetBytes,
    routesAdded: r.routes.added,
    routesRemoved: r.routes.removed,
    routesPending: r.routes.pending,
    sysctls: r.sysctlsWritten,
  };
}

export class Daemon {
  readonly graph: CalcGraph;
  private desired: DesiredState | undefined;
  private applying: Promise<void> | undefined;
  private dirty = false;
  private inSync = false;
  private stopped = false;
  private backoffMs = 100;
  private retryTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly subs: Subscription[] = [];
  private firstApply: { resolve: (r: ApplyResult) => void; reject: (e: Error) => void } | undefined;
  /** Resolves after the first successful apply following in-sync. */
  readonly programmed: Promise<ApplyResult>;
  /** Called after every apply, successful or not (tests and status use it). */
  onApplied?: (r: ApplyResult | Error) => void;
  lastResult: ApplyResult | undefined;

  constructor(private readonly o: DaemonOptions) {
    this.graph = new CalcGraph(o.graph);
    this.programmed = new Promise((resolve, reject) => {
      this.firstApply = { resolve, reject };
    });
  }

  start(): void {
    this.subs.push(
      this.o.updates.subscribe({
        next: (batch) => this.onBatch(batch),
        error: (e: Error) => {
          this.o.log.error({ err: e.message }, "datastore failed");
          this.firstApply?.reject(e);
        },
      }),
    );
    if (this.o.linkEvents) this.subs.push(this.o.linkEvents.subscribe(() => this.schedule()));
    if (this.o.refreshIntervalSecs > 0) {
      this.refreshTimer = setInterval(() => {
        this.o.log.debug("refresh: re-reading the kernel");
        this.o.dataplane.resync();
        this.schedule();
      }, this.o.refreshIntervalSecs * 1000);
    }
  }

  /** Stops watching; waits for an apply in progress. The kernel keeps what was programmed. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.subs) s.unsubscribe();
    clearInterval(this.refreshTimer);
    clearTimeout(this.retryTimer);
    await this.applying;
  }

  private onBatch(batch: ResourceUpdate[]): void {
    const t0 = performance.now();
    this.desired = this.graph.apply(batch);
    const problems = Object.values(this.desired.problems);
    this.o.metrics.resourceProblems.set(problems.length);
    this.o.metrics.activeEndpoints.set(Object.keys(this.desired.endpoints).length);
    this.o.log.debug({ updates: batch.length, ms: +(performance.now() - t0).toFixed(2) }, "calculation graph updated");
    for (const u of batch) {
      const p = this.desired.problems[`${u.kind}/${u.namespace}/${u.name}`];
      if (p) this.o.log.warn({ resource: p.key, file: p.source?.file, line: p.source?.line }, p.message);
    }
    if (!this.inSync) {
      this.inSync = true;
      this.o.log.info({ resources: batch.length }, "datastore in sync");
    }
    this.schedule();
  }

  /** Runs an apply now, or right after the one in progress (bursts coalesce). */
  private schedule(): void {
    if (this.stopped || !this.inSync) return;
    this.dirty = true;
    if (this.applying) return;
    this.applying = this.loop().finally(() => {
      this.applying = undefined;
    });
  }

  private async loop(): Promise<void> {
    while (this.dirty && !this.stopped && this.desired) {
      this.dirty = false;
      const state = this.desired;
      const t0 = performance.now();
      try {
        const r = await this.o.dataplane.apply(state);
        const secs = (performance.now() - t0) / 1000;
        this.o.metrics.applyTime.observe(secs);
        this.o.metrics.changes.inc(r.changes);
        this.o.metrics.lastChanges.set(r.changes);
        this.lastResult = r;
        this.backoffMs = 100;
        for (const w of r.warnings) this.o.log.warn(w);
        this.o.log.info(
          { ...summary(r), ms: +(secs * 1000).toFixed(1) },
          r.changes === 0 ? "dataplane already in sync: no changes" : "dataplane programmed",
        );
        this.firstApply?.resolve(r);
        this.firstApply = undefined;
        this.onApplied?.(r);
      } catch (e) {
        const err = e as Error & { line?: string };
        this.o.metrics.applyFailures.inc();
        this.o.log.error({ err: err.message, line: err.line, retryInMs: this.backoffMs }, "dataplane apply failed");
        this.o.dataplane.resync();
        this.onApplied?.(err);
        const delay = this.backoffMs;
        this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.schedule(), delay);
        return;
      }
    }
  }
}
