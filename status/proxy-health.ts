// kube-proxy's proxy health server (pkg/proxy/healthcheck/proxy_health.go),
// on FELIX_KUBEPROXYHEALTHZPORT (default 10256, kube-proxy's
// --healthz-bind-address port; 0 disables), all addresses:
//
//   GET /healthz, /livez → 200 while the services are programmed, 503 when a
//   change to them has waited longer than the timeout (kube-proxy's
//   healthTimeout, 2 × its 30 s sync period) without being programmed (never
//   before the first programming: kube-proxy is healthy while starting); body
//   `{"lastUpdated": "<t>","currentTime": "<t>"[, "nodeEligible": true]}` with
//   Go's time format, as kube-proxy writes it.
//
// Cloud load balancers probe it to decide whether to send traffic to the
// node. The service health checks (service-health.ts) report its verdict as
// serviceProxyHealthy. Time comes from an injected clock: tests never sleep.

import type { IncomingMessage, ServerResponse } from "node:http";
import { envPort } from "./env.js";
import { type HttpListener, listen, pathOf } from "./http-server.js";

export const DEFAULT_PROXY_HEALTHZ_PORT = 10256;
export const DEFAULT_PROXY_HEALTH_TIMEOUT_MS = 60_000;

export interface ProxyHealthConfig {
  /** FELIX_KUBEPROXYHEALTHZPORT; 0: no server. */
  readonly port: number;
}

export function proxyHealthConfigFromEnv(env: NodeJS.ProcessEnv): ProxyHealthConfig {
  return { port: envPort(env, "FELIX_KUBEPROXYHEALTHZPORT", DEFAULT_PROXY_HEALTHZ_PORT) };
}

/** Go's time.Time.String() in UTC (without the monotonic reading): `2006-01-02 15:04:05.999999999 +0000 UTC`. */
export function goTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const frac = d.getUTCMilliseconds() ? `.${p(d.getUTCMilliseconds(), 3).replace(/0+$/, "")}` : "";
  return (
    `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}${frac} +0000 UTC`
  );
}

export class ProxyHealth {
  private lastUpdated: number | undefined;
  /** When the oldest change not yet programmed arrived. */
  private oldestPending: number | undefined;
  /** /healthz only: this node is not being deleted (kube-proxy's nodeEligible; true until told otherwise). */
  private eligible = true;

  constructor(
    private readonly timeoutMs = DEFAULT_PROXY_HEALTH_TIMEOUT_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** A change to the services arrived (kube-proxy's QueuedUpdate): the oldest one counts. */
  queued(): void {
    this.oldestPending ??= this.now();
  }

  /** The services as of the last change are programmed (kube-proxy's Updated). */
  updated(): void {
    this.oldestPending = undefined;
    this.lastUpdated = this.now();
  }

  setNodeEligible(eligible: boolean): void {
    this.eligible = eligible;
  }

  /** Healthy while starting up (nothing programmed yet, as kube-proxy), and while no change is late. */
  isHealthy(): boolean {
    if (this.lastUpdated === undefined) return true;
    return this.oldestPending === undefined || this.now() - this.oldestPending < this.timeoutMs;
  }

  /** The answer to /healthz (withNode) or /livez. */
  answer(withNode: boolean): { status: number; body: string } {
    const now = this.now();
    const proxyHealthy = this.isHealthy();
    const healthy = proxyHealthy && (!withNode || this.eligible);
    // Healthy: "lastUpdated" is now, as kube-proxy keeps it for older clients.
    const lastText = goTime(healthy ? now : (this.lastUpdated ?? now));
    const node = withNode ? `, "nodeEligible": ${this.eligible}` : "";
    return {
      status: healthy ? 200 : 503,
      body: `{"lastUpdated": ${JSON.stringify(lastText)},"currentTime": ${JSON.stringify(goTime(now))}${node}}`,
    };
  }
}

/** kube-proxy's SyncNode: a Node being deleted or tainted ToBeDeletedByClusterAutoscaler is not eligible; a missing one is. */
export function nodeEligible(node: unknown): boolean {
  const n = node as { metadata?: { deletionTimestamp?: unknown }; spec?: { taints?: unknown } } | null;
  if (!n) return true;
  if (n.metadata?.deletionTimestamp) return false;
  const taints = Array.isArray(n.spec?.taints) ? n.spec.taints : [];
  return !taints.some((t) => (t as { key?: unknown } | null)?.key === TO_BE_DELETED_TAINT);
}

export const TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler";

/** The handler: /healthz and /livez; anything else 404, as Go's ServeMux. */
export function proxyHealthHandler(h: ProxyHealth) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = pathOf(req);
    if (path !== "/healthz" && path !== "/livez") {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" });
      res.end("404 page not found\n");
      return;
    }
    const { status, body } = h.answer(path === "/healthz");
    res.writeHead(status, { "Content-Type": "application/json", "X-Content-Type-Options": "nosniff" });
    res.end(req.method === "HEAD" ? undefined : body);
  };
}

/** Serves /healthz and /livez on every address; rejects when the port is taken. */
export function startProxyHealthServer(h: ProxyHealth, port: number, host?: string): Promise<HttpListener> {
  return listen(proxyHealthHandler(h), host, port);
}
