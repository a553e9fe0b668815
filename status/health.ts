// Liveness and readiness, as Felix's health aggregator
// (libcalico-go/lib/health) does them:
//
//   - named reporters (`datastore`, `calc-graph`, `dataplane`…) register which
//     of the two they speak for, and optionally a liveness timeout;
//   - the aggregate is the AND over reporters: live when every liveness
//     reporter last said live and has reported within its timeout, ready when
//     every readiness reporter last said ready (and has not timed out);
//   - a reporter that has never reported is neither live nor ready, so the
//     daemon should report `live: true` as soon as each part starts;
//   - `GET /liveness` and `GET /readiness` answer 200 or 503 with a JSON body
//     naming each reporter and, when it is the problem, why.
//
// Time comes from an injected clock, so tests never sleep.

import type { IncomingMessage, ServerResponse } from "node:http";
import { envBool, envHost, envPort } from "./env.js";
import { type HttpListener, listen, pathOf, rejectMethod, send } from "./http-server.js";

export interface HealthReport {
  /** Omitted: keeps the previous value (initially false). */
  readonly live?: boolean;
  /** Omitted: keeps the previous value (initially false). */
  readonly ready?: boolean;
  /** Free text shown in the HTTP body; replaces the previous detail (omitted: cleared). */
  readonly detail?: string;
}

export interface ReporterOptions {
  /** This reporter's view counts towards liveness (default true). */
  readonly live?: boolean;
  /** This reporter's view counts towards readiness (default true). */
  readonly ready?: boolean;
  /** Not live (nor ready) when it has not reported for this long; undefined: never times out. */
  readonly timeoutMs?: number;
}

export interface ReporterStatus {
  readonly name: string;
  readonly live: boolean;
  readonly ready: boolean;
  /** Which of the two this reporter speaks for. */
  readonly reports: { readonly live: boolean; readonly ready: boolean };
  readonly timeoutMs?: number;
  /** ISO time of the last report, absent before the first. */
  readonly lastReport?: string;
  readonly detail?: string;
  /** Why it is not live / not ready (absent when fine). */
  readonly problem?: string;
}

export interface HealthSummary {
  readonly live: boolean;
  readonly ready: boolean;
  readonly reporters: ReporterStatus[];
}

interface Reporter {
  readonly opts: Required<Omit<ReporterOptions, "timeoutMs">> & { timeoutMs?: number };
  live: boolean;
  ready: boolean;
  detail?: string;
  /** ms from the clock; undefined before the first report. */
  at?: number;
}

export class HealthAggregator {
  private readonly reporters = new Map<string, Reporter>();

  /** `now` returns milliseconds (default Date.now). */
  constructor(private readonly now: () => number = Date.now) {}

  /** Registers a reporter; registering an existing name again replaces its options and keeps its state. */
  register(name: string, opts: ReporterOptions = {}): void {
    if (opts.timeoutMs !== undefined && !(opts.timeoutMs > 0)) {
      throw new RangeError(`health reporter ${name}: timeoutMs must be > 0`);
    }
    const prev = this.reporters.get(name);
    this.reporters.set(name, {
      opts: { live: opts.live ?? true, ready: opts.ready ?? true, timeoutMs: opts.timeoutMs },
      live: prev?.live ?? false,
      ready: prev?.ready ?? false,
      detail: prev?.detail,
      at: prev?.at,
    });
  }

  /** Records a report (and a heartbeat for the timeout). Throws for an unregistered name. */
  report(name: string, r: HealthReport): void {
    const rep = this.reporters.get(name);
    if (!rep) throw new Error(`health reporter ${name} is not registered`);
    if (r.live !== undefined) rep.live = r.live;
    if (r.ready !== undefined) rep.ready = r.ready;
    rep.detail = r.detail;
    rep.at = this.now();
  }

  summary(): HealthSummary {
    const now = this.now();
    const reporters: ReporterStatus[] = [];
    let live = true;
    let ready = true;
    for (const [name, r] of [...this.reporters].sort(([a], [b]) => a.localeCompare(b))) {
      const timedOut = r.opts.timeoutMs !== undefined && r.at !== undefined && now - r.at > r.opts.timeoutMs;
      const isLive = r.at !== undefined && r.live && !timedOut;
      const isReady = r.at !== undefined && r.ready && !timedOut;
      const problems: string[] = [];
      if (r.at === undefined) problems.push("no report yet");
      else if (timedOut) {
        problems.push(
          `timed out: last report ${((now - r.at) / 1000).toFixed(1)}s ago (timeout ${r.opts.timeoutMs! / 1000}s)`,
        );
      } else {
        if (r.opts.live && !r.live) problems.push("reported not live");
        if (r.opts.ready && !r.ready) problems.push("reported not ready");
      }
      if (r.opts.live && !isLive) live = false;
      if (r.opts.ready && !isReady) ready = false;
      const concerned = (r.opts.live && !isLive) || (r.opts.ready && !isReady);
      reporters.push({
        name,
        live: isLive,
        ready: isReady,
        reports: { live: r.opts.live, ready: r.opts.ready },
        ...(r.opts.timeoutMs !== undefined ? { timeoutMs: r.opts.timeoutMs } : {}),
        ...(r.at !== undefined ? { lastReport: new Date(r.at).toISOString() } : {}),
        ...(r.detail !== undefined ? { detail: r.detail } : {}),
        ...(concerned ? { problem: problems.join("; ") } : {}),
      });
    }
    return { live, ready, reporters };
  }

  live(): boolean {
    return this.summary().live;
  }

  ready(): boolean {
    return this.summary().ready;
  }
}

/** The JSON body for one probe: only the reporters that speak for it, each with why it fails. */
export function probeBody(s: HealthSummary, what: "live" | "ready"): object {
  const ok = s[what];
  return {
    status: ok ? "ok" : what === "live" ? "not live" : "not ready",
    [what]: ok,
    reporters: s.reporters
      .filter((r) => r.reports[what])
      .map((r) => ({
        name: r.name,
        [what]: r[what],
        ...(r.lastReport ? { lastReport: r.lastReport } : {}),
        ...(r.timeoutMs !== undefined ? { timeoutMs: r.timeoutMs } : {}),
        ...(r.detail !== undefined ? { detail: r.detail } : {}),
        ...(!r[what] && r.problem ? { problem: r.problem } : {}),
      })),
  };
}

export interface HealthConfig {
  /** FELIX_HEALTHENABLED (default false). */
  readonly enabled: boolean;
  /** FELIX_HEALTHHOST (default localhost). */
  readonly host: string;
  /** FELIX_HEALTHPORT (default 9099). */
  readonly port: number;
}

export function healthConfigFromEnv(env: NodeJS.ProcessEnv): HealthConfig {
  return {
    enabled: envBool(env, "FELIX_HEALTHENABLED", false),
    host: envHost(env, "FELIX_HEALTHHOST", "localhost"),
    port: envPort(env, "FELIX_HEALTHPORT", 9099),
  };
}

export interface HealthServerOptions {
  readonly host: string;
  readonly port: number;
  readonly aggregator: HealthAggregator;
}

export function healthHandler(aggregator: HealthAggregator) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = pathOf(req);
    const what = path === "/liveness" ? "live" : path === "/readiness" ? "ready" : undefined;
    if (!what) {
      send(res, req, 404, `${JSON.stringify({ error: `not found: ${path}; try /liveness or /readiness` })}\n`);
      return;
    }
    if (rejectMethod(req, res)) return;
    const s = aggregator.summary();
    send(res, req, s[what] ? 200 : 503, `${JSON.stringify(probeBody(s, what), null, 2)}\n`);
  };
}

/** Serves GET /liveness and GET /readiness; resolves once listening. */
export function startHealthServer(o: HealthServerOptions): Promise<HttpListener> {
  return listen(healthHandler(o.aggregator), o.host, o.port);
}

export type { HttpListener };
