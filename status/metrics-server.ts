// The Prometheus endpoint: GET /metrics in the text exposition format, on
// Felix's PrometheusMetricsHost:PrometheusMetricsPort (all interfaces, 9091).

import type { Registry } from "prom-client";
import { envBool, envHost, envPort } from "./env.js";
import { type HttpListener, listen, pathOf, rejectMethod, send } from "./http-server.js";

export interface MetricsConfig {
  /** FELIX_PROMETHEUSMETRICSENABLED (default false). */
  readonly enabled: boolean;
  /** FELIX_PROMETHEUSMETRICSHOST (default "": all interfaces, as Felix). */
  readonly host: string;
  /** FELIX_PROMETHEUSMETRICSPORT (default 9091). */
  readonly port: number;
  /**
   * FELIX_PROMETHEUSPROCESSMETRICSENABLED (default true): also export the process_* and nodejs_*
   * metrics (prom-client's collectDefaultMetrics), as Felix exports process_* and go_*.
   */
  readonly processMetrics: boolean;
}

export function metricsConfigFromEnv(env: NodeJS.ProcessEnv): MetricsConfig {
  return {
    enabled: envBool(env, "FELIX_PROMETHEUSMETRICSENABLED", false),
    host: envHost(env, "FELIX_PROMETHEUSMETRICSHOST", ""),
    port: envPort(env, "FELIX_PROMETHEUSMETRICSPORT", 9091),
    processMetrics: envBool(env, "FELIX_PROMETHEUSPROCESSMETRICSENABLED", true),
  };
}

export interface MetricsServerOptions {
  /** "" or undefined: all interfaces. */
  readonly host?: string;
  readonly port: number;
  readonly registry: Registry;
}

/** Serves GET /metrics from the registry; resolves once listening. */
export function startMetricsServer(o: MetricsServerOptions): Promise<HttpListener> {
  return listen(
    async (req, res) => {
      const path = pathOf(req);
      if (path !== "/metrics") {
        send(res, req, 404, `not found: ${path}; try /metrics\n`, "text/plain; charset=utf-8");
        return;
      }
      if (rejectMethod(req, res)) return;
      send(res, req, 200, await o.registry.metrics(), o.registry.contentType);
    },
    o.host,
    o.port,
  );
}

export type { HttpListener };
