// The agent's daemon mode: status servers, link events and the Daemon that
// programs each batch, until SIGTERM/SIGINT. felix.ts has chosen the
// dataplane and opened the datastore.

import type { Logger } from "pino";
import type { GraphConfig } from "../../calc-graph/calc-graph.js";
import { NetlinkLinkMonitor } from "../../ifaces/link-monitor.js";
import { OWNED_TUNNELS } from "../../ifaces/tunnel-reconciler.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { filter, type Observable } from "../../model/rx.js";
import { DeniedPackets } from "../../status/denied-packets.js";
import { EndpointStatusTracker } from "../../status/endpoint-status.js";
import { EndpointStatusFile, type endpointStatusConfigFromEnv } from "../../status/endpoint-status-file.js";
import { HealthAggregator, type healthConfigFromEnv, startHealthServer } from "../../status/health.js";
import type { HttpListener } from "../../status/http-server.js";
import type { Metrics } from "../../status/metrics.js";
import { type metricsConfigFromEnv, startMetricsServer } from "../../status/metrics-server.js";
import type { proxyHealthConfigFromEnv } from "../../status/proxy-health.js";
import { AgentStatus } from "../agent-status.js";
import type { AgentConfig } from "../config.js";
import { Daemon } from "../daemon.js";
import type { KubeAccess } from "../datastore/kube-config.js";
import { IdleScavenger } from "../heap.js";
import type { HostAddressFeed } from "../host-addresses.js";
import type { kernelDataplane } from "../kernel.js";
import { KUBE_IPVS_DEVICE } from "../kernel-features.js";
import { natFirstFits } from "../nat-first.js";
import { readNflog } from "../nflog-reader.js";
import { type NftablesModeSetting, resolveNftablesMode } from "../nftables-mode.js";
import type { RuleDataplane } from "../rule-renderers.js";
import { ServiceProxyStatus } from "../service-proxy-status.js";
import { RuntimeError } from "./errors.js";

/** Address changes raise no link event: re-read this host's addresses this often (IPVS support only). */
const HOST_ADDRESS_POLL_MS = 10_000;

export interface DaemonContext {
  readonly cfg: AgentConfig;
  readonly graphCfg: GraphConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly healthCfg: ReturnType<typeof healthConfigFromEnv>;
  readonly metricsCfg: ReturnType<typeof metricsConfigFromEnv>;
  readonly statusCfg: ReturnType<typeof endpointStatusConfigFromEnv>;
  readonly proxyHealthCfg: ReturnType<typeof proxyHealthConfigFromEnv>;
  readonly kernel: Awaited<ReturnType<typeof kernelDataplane>>;
  readonly kubeConfig?: KubeAccess;
  readonly nodeName: string;
  readonly updates: Observable<ResourceUpdate[]>;
  /** This host's addresses, when IPVS support or --nodeport-addresses CIDRs need them. */
  readonly hostAddresses?: { readonly feed: HostAddressFeed<string[]> };
  readonly hostInterfaces: HostAddressFeed<Map<string, string[]>>;
  /** kube-proxy's IPVS device was present at start. */
  readonly kubeIpvs: boolean;
  readonly nftSetting: NftablesModeSetting;
  readonly kubeProxyNft: boolean;
  readonly policy: RuleDataplane;
  /** Stop, then exit 129: Felix's "restart me with the new configuration". */
  readonly requestRestart: () => void;
}

/** Runs until SIGTERM or SIGINT; the programmed dataplane stays in place. */
export async function runDaemon(c: DaemonContext): Promise<void> {
  const { cfg, graphCfg, log, metrics, healthCfg, metricsCfg, statusCfg, proxyHealthCfg, kernel, kubeConfig } = c;
  const { nodeName, updates, hostAddresses, hostInterfaces, kubeIpvs, nftSetting, kubeProxyNft, policy } = c;
  // Status: health, metrics, endpoint status, node condition and events.
  const health = new HealthAggregator();
  const endpoints = new EndpointStatusTracker({ interfacePrefix: graphCfg.interfacePrefix });
  let daemon: Daemon | undefined;
  const nodeStatus = kubeConfig ? await import("../../status/node-status.js") : undefined;
  const status = new AgentStatus({
    metrics,
    log: log.child({ component: "status" }),
    health,
    endpoints,
    statusFile: new EndpointStatusFile(statusCfg.path),
    nodeStatus:
      kubeConfig && nodeStatus
        ? new nodeStatus.NodeStatusReporter(
            nodeStatus.kubernetesStatusApi(kubeConfig),
            nodeName,
            log.child({ component: "node-status" }),
          )
        : undefined,
    applyingSince: () => daemon?.applyingSince,
  });
  const servers: HttpListener[] = [];
  try {
    if (healthCfg.enabled) servers.push(await startHealthServer({ ...healthCfg, aggregator: health }));
    if (metricsCfg.enabled) {
      // prom-client's index only here: `--once` serves no metrics (status/prom.ts).
      if (metricsCfg.processMetrics)
        (await import("prom-client")).collectDefaultMetrics({ register: metrics.registry });
      servers.push(await startMetricsServer({ ...metricsCfg, registry: metrics.registry }));
    }
  } catch (e) {
    for (const srv of servers) await srv.close();
    throw new RuntimeError(`cannot serve health/metrics: ${(e as Error).message}`);
  }
  for (const srv of servers) log.info({ host: srv.host, port: srv.port }, "serving status");
  // As the service proxy: kube-proxy's /healthz and the services' health check node ports.
  const proxyStatus =
    graphCfg.proxyMode !== "off"
      ? new ServiceProxyStatus(proxyHealthCfg, log.child({ component: "proxy-health" }), nodeName, () => {
          // kube-proxy's health check servers listen on the --nodeport-addresses when they are set.
          const index = daemon?.graph.services;
          const [v4, v6] = [index?.nodePortIPs(4), index?.nodePortIPs(6)];
          if (v4 === undefined && v6 === undefined) return undefined;
          return [...(v4 ?? ["0.0.0.0"]), ...(v6 ?? (kernel.ipv6 ? ["::"] : []))];
        })
      : undefined;
  await proxyStatus?.start();

  // New cali* interfaces get their routes and sysctls at once, not on a timer.
  const links = new NetlinkLinkMonitor();
  const present = new Set((await links.start()).map((l) => l.name));
  status.interfaces(present);
  links.events.subscribe((e) => {
    if (e.event === "removed") present.delete(e.name);
    else present.add(e.name);
    status.interfaces(present);
    hostAddresses?.feed.poke();
    hostInterfaces.poke();
    // kube-proxy switched to or from IPVS mode: restart (exit 129, as Felix does for a config change).
    if (e.name === KUBE_IPVS_DEVICE && graphCfg.proxyMode !== "ipvs" && present.has(e.name) !== kubeIpvs) {
      log.warn({ device: e.name, event: e.event }, "kube-proxy's IPVS mode changed: exiting to restart with it");
      c.requestRestart();
    }
  });
  const prefix = graphCfg.interfacePrefix ?? "cali";
  // Workload interfaces by the prefixes in force (FelixConfiguration/env), less interfaceExclude, as Felix's monitor.
  const isWorkload = (name: string) => {
    const settings = daemon?.graph.current.config?.settings;
    const prefixes = settings?.interfacePrefixes ?? [prefix];
    return (
      prefixes.some((p) => name.startsWith(p)) &&
      !(settings?.interfaceExclude ?? []).some((re) => new RegExp(re).test(name))
    );
  };
  // Our tunnel devices too, removal included: a deleted vxlan.calico is re-created at once.
  const linkEvents = links.events.pipe(
    filter((e) => (isWorkload(e.name) && e.event !== "removed" && e.up) || OWNED_TUNNELS.includes(e.name)),
  );

  // felix_denied_packets_total from the drop paths' NFLOG group, when dropNflogGroup is set.
  const denied = metricsCfg.enabled
    ? new DeniedPackets(metrics.registry, readNflog, (err) => log.warn({ err }, "drop reports unavailable"))
    : undefined;
  // Felix restarts when nftablesMode changes; so does felix-ts (exit 129), to start in the other mode.
  const nftablesModeChanged = (updates: readonly ResourceUpdate[]) => {
    if (nftSetting.update(updates) && resolveNftablesMode(nftSetting.value, kubeProxyNft) !== policy) {
      log.warn({ nftablesMode: nftSetting.value }, "nftablesMode changed: exiting to restart with it");
      c.requestRestart();
    }
  };
  const scavenger = new IdleScavenger();
  daemon = new Daemon({
    onIdle: () => scavenger.idle(),
    graph: graphCfg,
    updates,
    dataplane: kernel.dataplane,
    log: log.child({ component: "dataplane" }),
    observer: {
      batch: (state, secs, seenAt, batch) => {
        nftablesModeChanged(batch);
        status.batch(state, secs, seenAt);
        proxyStatus?.batch(state, batch);
      },
      part: (updates) => {
        nftablesModeChanged(updates); // a FelixConfiguration written while the other kinds are listed
        proxyStatus?.seen(updates);
      },
      applied: (state, outcome, secs) => {
        status.applied(state, outcome, secs);
        proxyStatus?.applied(state, outcome);
        if (daemon && !(outcome instanceof Error)) denied?.applied(state, daemon.graph);
      },
    },
    refreshIntervalSecs: cfg.iptablesRefreshInterval,
    linkEvents,
    natFirst: natFirstFits(graphCfg, kernel.dataplane),
    ...(hostAddresses ? { hostAddresses: hostAddresses.feed.addresses } : {}),
    hostInterfaces: hostInterfaces.addresses,
  });
  const [, addresses] = await Promise.all([
    hostInterfaces.start(HOST_ADDRESS_POLL_MS).then(
      (ifaces) => daemon?.graph.setHostInterfaces(ifaces),
      (e: Error) => log.warn({ err: e.message }, "reading this host's interfaces failed"),
    ),
    hostAddresses?.feed.start(HOST_ADDRESS_POLL_MS),
  ]);
  if (addresses) daemon.graph.setHostAddresses(addresses);
  daemon.start();
  const running = daemon;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "stopping; the programmed dataplane stays in place");
      void running.stop().then(async () => {
        links.stop();
        denied?.stop();
        hostAddresses?.feed.stop();
        hostInterfaces.stop();
        kernel.close();
        status.close();
        await proxyStatus?.close();
        for (const srv of servers) await srv.close();
        resolve();
      });
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}
