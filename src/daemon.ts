// The agent's main loop:
//
//   datastore batches ──► CalcGraph (pure) ──► latest DesiredState ──► Dataplane.apply()
//   (partial parts are ingested; the part that completes a batch computes the snapshot)
//   refresh timer ─────────────────────────────► resync + apply        (one at a time;
//   link events (new cali* interface) ─────────► apply                  bursts coalesce)
//
// Programming starts only after the datastore's first complete batch (in
// sync), so a restart never programs a partial view. A failed apply is logged,
// counted and retried with backoff; the daemon itself never exits on one.
// SIGTERM/SIGINT stop it cleanly and leave the programmed dataplane in place,
// so established connections survive a restart.

import type { Logger } from "pino";
import { CalcGraph, type GraphConfig } from "../calc-graph/calc-graph.js";
import type { DesiredState } from "../calc-graph/desired-state.js";
import { type ResourceUpdate, resourceKey } from "../model/resource.js";
import type { Observable, Subscription } from "../model/rx.js";
import type { ApplyResult, Dataplane } from "./dataplane.js";
import type { NatFirstResult } from "./dataplane-nat-first.js";
import { isPartial } from "./datastore/batch.js";
import { NatFirstBatch } from "./nat-first.js";

export interface DaemonOptions {
  readonly graph: GraphConfig;
  readonly updates: Observable<ResourceUpdate[]>;
  readonly dataplane: Dataplane;
  readonly log: Logger;
  /** Status reporting (metrics, health, endpoint status); the loop works without it. */
  readonly observer?: DaemonObserver;
  /** Seconds between full re-reads of the kernel (FELIX_IPTABLESREFRESHINTERVAL); 0 disables. */
  readonly refreshIntervalSecs: number;
  /** Link events that should trigger an apply (routes/sysctls waiting for an interface). */
  readonly linkEvents?: Observable<unknown>;
  /** This host's addresses when they change (IPVS support's this-host set): a graph input. */
  readonly hostAddresses?: Observable<readonly string[]>;
  /** This host's interfaces and their addresses (host endpoints placed by expectedIPs). */
  readonly hostInterfaces?: Observable<ReadonlyMap<string, readonly string[]>>;
  /** Called once the applies are done and nothing waits (src/heap.ts IdleScavenger). */
  readonly onIdle?: () => void;
  /**
   * The first batch in two stages, the nat table written ahead while the other kinds go into
   * the graph (src/nat-first.ts; the caller checks natFirstFits).
   */
  readonly natFirst?: boolean;
}

const MAX_BACKOFF_MS = 30_000;

/** What the loop tells status reporting. */
export interface DaemonObserver {
  /** A batch went through the graph; `seenAt` is when it arrived (performance.now()). */
  batch(state: DesiredState, graphSeconds: number, seenAt: number, updates: readonly ResourceUpdate[]): void;
  /** A partial part of a batch was ingested (no snapshot yet): its updates, which `batch` will not repeat. */
  part?(updates: readonly ResourceUpdate[]): void;
  /** An apply finished, with its result or error. */
  applied(state: DesiredState, outcome: ApplyResult | Error, seconds: number): void;
}

/** Logs how stage 1 of a cold start ended (src/nat-first.ts). */
export function logNatFirst(log: Logger, r: NatFirstResult | Error, t0: number): void {
  const ms = +(performance.now() - t0).toFixed(1);
  if (r instanceof Error)
    log.warn({ err: r.message, ms }, "nat table ahead of the first apply failed: the first apply writes it");
  else log.info({ ...r, ms }, "nat table programmed ahead of the first apply");
}

/**
 * Logs when stage 1's restores have their whole input (the kernel's part begins), unless it failed
 * first. Called as stage 1 begins: its reaction comes before the caller's own wait on `started`,
 * which is followed by seconds of synchronous work.
 */
export function logNatStarted(
  log: Logger,
  w: { readonly started: Promise<void>; readonly done: Promise<unknown> },
  t0: number,
): void {
  let failed = false;
  void w.done.then((r) => {
    failed = r instanceof Error;
  });
  void w.started.then(() => {
    const now = performance.now();
    if (!failed) log.info({ ms: +(now - t0).toFixed(1), sinceStartMs: Math.round(now) }, "nat table restore started");
  });
}

/** The log fields describing one apply. */
export function summary(r: ApplyResult) {
  return {
    changes: r.changes,
    iptablesBytes: r.iptablesBytes,
    ipsetBytes: r.ipsetBytes,
    ...(r.nftBytes !== undefined ? { nftBytes: r.nftBytes } : {}),
    routesAdded: r.routes.added,
    routesRemoved: r.routes.removed,
    routesPending: r.routes.pending,
    sysctls: r.sysctlsWritten,
    ...(r.udpFlowsDeleted ? { udpFlowsDeleted: r.udpFlowsDeleted } : {}),
    ...(r.stepsMs ? { stepsMs: r.stepsMs } : {}),
  };
}

export class Daemon {
  readonly graph: CalcGraph;
  private desired: DesiredState | undefined;
  private applying: Promise<void> | undefined;
  /** When the apply in progress started (performance.now()), for the liveness watchdog. */
  applyingSince: number | undefined;
  private dirty = false;
  private inSync = false;
  private stopped = false;
  private backoffMs = 100;
  private retryTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly subs: Subscription[] = [];
  /** Keys of the updates ingested from partial parts, whose problems are logged with the batch they complete. */
  private partialKeys: string[] = [];
  /** Until the first batch is complete: its nat kinds go into the graph first (src/nat-first.ts). */
  private natFirst: NatFirstBatch | undefined;
  /** Batches that came while stage 1 started: taken once the first batch is in. */
  private queued: ResourceUpdate[][] | undefined;
  /** The stage-1 write, awaited by stop(). */
  private early: Promise<unknown> | undefined;

  constructor(private readonly o: DaemonOptions) {
    this.graph = new CalcGraph(o.graph);
    if (o.natFirst) this.natFirst = new NatFirstBatch(this.graph);
  }

  start(): void {
    this.subs.push(
      this.o.updates.subscribe({
        next: (batch) => this.onBatch(batch),
        error: (e: Error) => {
          this.o.log.error({ err: e.message }, "datastore failed");
        },
      }),
    );
    if (this.o.linkEvents) {
      this.subs.push(
        this.o.linkEvents.subscribe(() => {
          this.o.dataplane.linksChanged();
          this.schedule();
        }),
      );
    }
    if (this.o.hostAddresses) {
      this.subs.push(
        this.o.hostAddresses.subscribe((addrs) => {
          this.graph.setHostAddresses(addrs);
          this.desired = this.graph.apply([]);
          this.schedule();
        }),
      );
    }
    if (this.o.hostInterfaces) {
      this.subs.push(
        this.o.hostInterfaces.subscribe((ifaces) => {
          this.graph.setHostInterfaces(ifaces);
          this.desired = this.graph.apply([]);
          this.schedule();
        }),
      );
    }
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
    await this.early;
    await this.applying;
  }

  private onBatch(batch: ResourceUpdate[]): void {
    if (this.queued) {
      this.queued.push(batch);
      return;
    }
    if (this.natFirst) {
      this.stageFirst(this.natFirst, batch);
      return;
    }
    if (isPartial(batch)) {
      this.graph.ingest(batch);
      this.o.observer?.part?.(batch);
      for (const u of batch) this.partialKeys.push(resourceKey(u));
      return;
    }
    const t0 = performance.now();
    this.completed(batch, this.graph.apply(batch), t0);
  }

  /**
   * A part of the first batch in two stages: once it is complete (or its files of nat kinds are
   * in), the nat kinds' snapshot goes to the dataplane's stage 1, and once the batch is complete and
   * that write has its input, the held kinds go into the graph (seconds of main-thread work while
   * the kernel takes the nat table).
   */
  private stageFirst(stager: NatFirstBatch, batch: ResourceUpdate[]): void {
    // Stage 1 begins at the complete batch, or earlier once the files of nat kinds are in.
    const begun = stager.takeAndStage(batch, this.o.dataplane);
    if (begun?.write) {
      const { write, t0 } = begun;
      logNatStarted(this.o.log, write, t0);
      this.early = write.done.then((r) => logNatFirst(this.o.log, r, t0));
    }
    if (isPartial(batch)) {
      this.o.observer?.part?.(batch);
      for (const u of batch) this.partialKeys.push(resourceKey(u));
      return;
    }
    const t0 = performance.now();
    const { write: early, snapshotMs: stage1Ms } = stager.stage1!;
    const rest = () => {
      this.applyingSince = undefined;
      this.natFirst = undefined;
      const queued = this.queued ?? [];
      this.queued = undefined;
      const t1 = performance.now();
      const state = stager.release();
      this.completed(batch, state, t0, stage1Ms + performance.now() - t1);
      for (const b of queued) this.onBatch(b);
    };
    if (!early) {
      rest();
      return;
    }
    this.queued = [];
    // A stage-1 write that hangs before it has started is a hung apply to the liveness watchdog.
    this.applyingSince = t0;
    void early.started.then(rest);
  }

  /** The first batch or a later one is in the graph: `state` is its snapshot; the apply follows. */
  private completed(batch: readonly ResourceUpdate[], state: DesiredState, t0: number, graphMs?: number): void {
    const before = this.desired?.problems;
    this.desired = state;
    const graphSecs = (graphMs ?? performance.now() - t0) / 1000;
    this.o.observer?.batch(this.desired, graphSecs, t0, batch);
    this.o.log.debug({ updates: batch.length, ms: +(graphSecs * 1000).toFixed(2) }, "calculation graph updated");
    const keys = new Set(this.partialKeys.concat(batch.map(resourceKey)));
    this.partialKeys = [];
    for (const key of keys) {
      const p = this.desired.problems[key];
      if (p) this.o.log.warn({ resource: p.key, file: p.source?.file, line: p.source?.line }, p.message);
    }
    // Problems the graph raises itself, when new: a node's routing (`Node//<name>/routes|vxlan|ipip`),
    // a pod whose interface name collides with another's (`Pod/<ns>/<pod>/iface`), a service's refused
    // addresses (`Service/<ns>/<name>/addresses`), a tier policies name that does not exist (`Tier//<name>/missing`),
    // an IP set over FELIX_MAXIPSETSIZE (`IPSet//<set>/size`), a policy over FELIX_POLICYMAXRULES
    // (`Policy//<policy key>/rules`).
    if (this.desired.problems !== before) {
      for (const [key, p] of Object.entries(this.desired.problems)) {
        if (
          /^(Node\/|Service\/[^/]+)\/[^/]+\/.|^Pod\/[^/]+\/[^/]+\/iface$|^(Tier|IPSet)\/\/[^/]+\/(missing|size)$|^Policy\/\/.+\/rules$/.test(
            key,
          ) &&
          before?.[key]?.message !== p.message
        )
          this.o.log.warn({ resource: key }, p.message);
      }
    }
    if (!this.inSync) {
      this.inSync = true;
      this.o.log.info({ resources: keys.size }, "datastore in sync");
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
    await this.applyWhileDirty();
    // After the I/O that came meanwhile: a batch it brings goes first.
    if (this.o.onIdle && !this.stopped)
      setImmediate(() => {
        if (!this.applying && !this.dirty && !this.stopped) this.o.onIdle?.();
      });
  }

  private async applyWhileDirty(): Promise<void> {
    while (this.dirty && !this.stopped && this.desired) {
      this.dirty = false;
      const state = this.desired;
      const t0 = performance.now();
      this.applyingSince = t0;
      try {
        const r = await this.o.dataplane.apply(state);
        this.applyingSince = undefined;
        const secs = (performance.now() - t0) / 1000;
        this.o.observer?.applied(state, r, secs);
        this.backoffMs = 100;
        for (const w of r.warnings) this.o.log.warn(w);
        this.o.log.info(
          { ...summary(r), ms: +(secs * 1000).toFixed(1) },
          r.changes === 0 ? "dataplane already in sync: no changes" : "dataplane programmed",
        );
      } catch (e) {
        this.applyingSince = undefined;
        const err = e as Error & { line?: string };
        this.o.observer?.applied(state, err, (performance.now() - t0) / 1000);
        this.o.log.error({ err: err.message, line: err.line, retryInMs: this.backoffMs }, "dataplane apply failed");
        this.o.dataplane.resync();
        const delay = this.backoffMs;
        this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.schedule(), delay);
        return;
      }
    }
  }
}
