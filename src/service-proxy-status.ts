// What the agent reports as a service proxy, as kube-proxy does: the proxy
// health server (/healthz, /livez) and the per-service health checks, fed by
// the daemon loop:
//
//   batch   → a snapshot whose services differ from the programmed ones is a
//             change waiting to be programmed (kube-proxy's QueuedUpdate)
//   applied → once programmed (Updated), the service health checks follow
//             the programmed services and their local endpoint counts
//
// Only when this agent proxies services (FELIX_PROXYMODE iptables or ipvs):
// otherwise kube-proxy answers on these ports. A port already taken is a
// warning, never a crash; the proxy health server tries again every 5 s.

import type { Logger } from "pino";
import type { DesiredState } from "../calc-graph/desired-state.js";
import { serviceHealthChecks } from "../calc-graph/services/health-checks.js";
import type { ResourceUpdate } from "../model/resource.js";
import type { HttpListener } from "../status/http-server.js";
import { nodeEligible, ProxyHealth, type ProxyHealthConfig, startProxyHealthServer } from "../status/proxy-health.js";
import { ServiceHealthServers } from "../status/service-health.js";
import type { ApplyResult } from "./dataplane.js";

const RETRY_MS = 5_000;

export class ServiceProxyStatus {
  readonly health: ProxyHealth;
  readonly checks: ServiceHealthServers;
  private server: HttpListener | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  /** The services last programmed, and last handed to the health checks. */
  private programmed: DesiredState["services"] | undefined;
  private latest: DesiredState["services"] | undefined;
  private hostsText: string | undefined;

  constructor(
    private readonly cfg: ProxyHealthConfig,
    private readonly log: Logger,
    private readonly nodeName?: string,
    /** The --nodeport-addresses to listen on (undefined: every address). */
    private readonly listenHosts: () => readonly string[] | undefined = () => undefined,
    health = new ProxyHealth(),
  ) {
    this.health = health;
    this.checks = new ServiceHealthServers({
      proxyHealthy: () => this.health.isHealthy(),
      onError: (c, e) =>
        this.log.warn(
          { service: `${c.namespace}/${c.name}`, port: c.port, err: e.message },
          "cannot serve the service's health check node port",
        ),
    });
  }

  /** Starts the proxy health server (when its port is not 0); resolves at once if the port is taken. */
  async start(): Promise<void> {
    if (this.cfg.port === 0 || this.closed) return;
    try {
      this.server = await startProxyHealthServer(this.health, this.cfg.port);
      this.log.info({ port: this.server.port }, "serving kube-proxy's /healthz and /livez");
    } catch (e) {
      this.log.warn({ port: this.cfg.port, err: (e as Error).message, retryInMs: RETRY_MS }, "cannot serve /healthz");
      this.retry = setTimeout(() => void this.start(), RETRY_MS);
    }
  }

  /** The port /healthz is served on, once it is. */
  get port(): number | undefined {
    return this.server?.port;
  }

  batch(state: DesiredState, updates: readonly ResourceUpdate[] = []): void {
    this.seen(updates);
    this.latest = state.services;
    if (state.services !== this.programmed) this.health.queued();
  }

  /** Updates that went into the graph (a batch, or a part of one): this node's Node object. */
  seen(updates: readonly ResourceUpdate[]): void {
    for (const u of updates) {
      if (u.kind === "Node" && u.name === this.nodeName) this.health.setNodeEligible(nodeEligible(u.value));
    }
  }

  applied(state: DesiredState, outcome: ApplyResult | Error): void {
    if (outcome instanceof Error) return;
    this.health.updated();
    // A newer change arrived while this one was programmed: it waits from now on.
    if (this.latest !== undefined && state.services !== this.latest) this.health.queued();
    const hosts = this.listenHosts();
    const hostsText = hosts?.join(",");
    if (state.services === this.programmed && hostsText === this.hostsText) return;
    this.programmed = state.services;
    this.hostsText = hostsText;
    void this.checks.sync(serviceHealthChecks(state.services), hosts);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.server?.close();
    await this.checks.close();
  }
}
