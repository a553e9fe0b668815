// Status reporting of the running agent, fed by the daemon loop: Prometheus
// metrics, health (liveness/readiness), per-endpoint status (in memory and
// in a status file), network-programming latency and, with the Kubernetes
// datastore, the node condition and pod events.
//
//   readiness: datastore in sync (first batch) AND dataplane programmed once
//              AND fewer than FAILED_APPLIES_NOT_READY applies failed in a
//              row (a dataplane that keeps failing is not ready, with why);
//              its body also names every FelixConfiguration/env field that is
//              set but not implemented (reporter `felix-configuration`)
//   liveness:  every reporter heard from within its timeout; the dataplane
//              reporter goes quiet while one apply runs longer than the
//              watchdog (Felix's DataplaneWatchdogTimeout, 90 s)

import type { Logger } from "pino";
import type { DesiredState } from "../calc-graph/desired-state.js";
import { auditTime, type Subscription } from "../model/rx.js";
import type { EndpointStatusTracker } from "../status/endpoint-status.js";
import type { EndpointStatusFile } from "../status/endpoint-status-file.js";
import type { HealthAggregator } from "../status/health.js";
import type { Metrics } from "../status/metrics.js";
import type { NodeStatusReporter } from "../status/node-status.js";
import { ProgrammingLatency } from "../status/programming-latency.js";
import type { DaemonObserver } from "./daemon.js";
import type { ApplyResult } from "./dataplane.js";

export const WATCHDOG_MS = 90_000;
/** The health reporter whose detail lists ignored FelixConfiguration fields. */
export const CONFIG_REPORTER = "felix-configuration";

/** The warning for fields that are set but that felix-ts does not implement. */
export function ignoredConfigMessage(fields: readonly string[]): string {
  return `FelixConfiguration/FELIX_* fields felix-ts does not implement are ignored: ${fields.join(", ")}`;
}
/** Consecutive failed applies that turn readiness red (a single one is retried quietly). */
export const FAILED_APPLIES_NOT_READY = 3;
const HEARTBEAT_MS = 10_000;

export interface AgentStatusOptions {
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly health: HealthAggregator;
  readonly endpoints: EndpointStatusTracker;
  readonly statusFile?: EndpointStatusFile;
  readonly nodeStatus?: NodeStatusReporter;
  /** When the apply in progress started, if one is (performance.now()). */
  readonly applyingSince: () => number | undefined;
}

export class AgentStatus implements DaemonObserver {
  private readonly latency: ProgrammingLatency;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly subs: Subscription[] = [];
  private programmedOnce = false;
  /** Ignored fields already named in the log. */
  private ignored = new Set<string>();
  private failedInARow = 0;
  /** The dataplane reporter's last detail, repeated by the heartbeat (a report replaces the detail). */
  private dataplaneDetail = "starting";

  constructor(private readonly o: AgentStatusOptions) {
    this.latency = new ProgrammingLatency(o.metrics.networkProgrammingDuration);
    o.health.register("datastore", {});
    o.health.register("calc-graph", {});
    o.health.register("dataplane", { timeoutMs: WATCHDOG_MS });
    // Always ready: ignored settings do not make the node unready, but /readiness's body names them.
    o.health.register(CONFIG_REPORTER, { live: false, ready: true });
    o.health.report(CONFIG_REPORTER, { live: true, ready: true });
    // Not ready until in sync and programmed; live from the start.
    for (const name of ["datastore", "calc-graph", "dataplane"]) {
      o.health.report(name, { live: true, ready: false, detail: "starting" });
    }
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    if (o.statusFile) {
      const file = o.statusFile;
      this.subs.push(
        o.endpoints.changes.pipe(auditTime(50)).subscribe(() => {
          file
            .write(o.endpoints.statuses())
            .catch((e: Error) => o.log.warn({ err: e.message }, "cannot write endpoint status file"));
        }),
      );
    }
  }

  batch(state: DesiredState, graphSeconds: number, seenAt: number): void {
    this.reportConfig(state);
    this.o.metrics.observeState(state, graphSeconds);
    this.latency.seen(state, seenAt);
    this.o.endpoints.setDesired(state);
    this.o.health.report("datastore", { live: true, ready: true, detail: "in sync" });
    this.o.health.report("calc-graph", { live: true, ready: true });
  }

  applied(state: DesiredState, outcome: ApplyResult | Error, seconds: number): void {
    this.o.endpoints.applied(state, outcome);
    if (outcome instanceof Error) {
      this.o.metrics.applyFailures.inc();
      this.failedInARow++;
      const failing = this.failedInARow >= FAILED_APPLIES_NOT_READY;
      this.dataplaneDetail = `${this.failedInARow} apply(s) failed in a row (retrying): ${outcome.message}`;
      this.o.health.report("dataplane", {
        live: true,
        ...(failing ? { ready: false } : {}),
        detail: this.dataplaneDetail,
      });
      return;
    }
    this.o.metrics.observeApply(outcome, seconds);
    this.latency.programmed(state);
    this.programmedOnce = true;
    this.failedInARow = 0;
    this.dataplaneDetail = `programmed: ${outcome.changes} changes`;
    this.o.health.report("dataplane", { live: true, ready: true, detail: this.dataplaneDetail });
    void this.o.nodeStatus?.programmed(state);
  }

  /** Names each set-but-unimplemented field once in the log, and all of them in /readiness. */
  private reportConfig(state: DesiredState): void {
    const ignored = state.config?.ignored ?? [];
    const fresh = ignored.filter((f) => !this.ignored.has(f));
    if (fresh.length > 0) this.o.log.warn({ fields: fresh }, ignoredConfigMessage(fresh));
    this.ignored = new Set(ignored);
    this.o.health.report(CONFIG_REPORTER, {
      live: true,
      ready: true,
      ...(ignored.length > 0 ? { detail: `ignored, not implemented by felix-ts: ${ignored.join(", ")}` } : {}),
    });
  }

  /** The set of interfaces present, from the link monitor. */
  interfaces(names: ReadonlySet<string>): void {
    this.o.endpoints.setInterfaces(names);
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const s of this.subs) s.unsubscribe();
  }

  private beat(): void {
    this.o.health.report("datastore", { live: true });
    this.o.health.report("calc-graph", { live: true });
    const since = this.o.applyingSince();
    // A dataplane stuck in one apply past the watchdog stops reporting: liveness fails.
    if (since === undefined || performance.now() - since < WATCHDOG_MS) {
      const ready = this.programmedOnce && this.failedInARow < FAILED_APPLIES_NOT_READY;
      this.o.health.report("dataplane", { live: true, ready, detail: this.dataplaneDetail });
    }
  }
}
