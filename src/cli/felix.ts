#!/usr/bin/env -S node --max-semi-space-size=8
// (V8's young generation at 2 × 8 MB instead of 2 × 16: 16 MB less RSS for no
// CPU, the daemon scavenging when idle (src/heap.ts); the bench and the
// Dockerfile take the flags from this line, src/cli/node-flags.ts.)

// felix: the node agent. Reads cluster state, computes this node's dataplane
// and programs the kernel of the current network namespace.

import { readFileSync } from "node:fs";
import { release } from "node:os";
import { Command, Option } from "commander";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { IPVS_DEVICE } from "../../calc-graph/services/ipvs-desired.js";
import { binary, type IptablesMode } from "../../iptables/backend.js";
import { chooseBackend, StartSaves } from "../../iptables/detect.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { filter, firstValueFrom, type Observable } from "../../model/rx.js";
import { endpointStatusConfigFromEnv } from "../../status/endpoint-status-file.js";
import { healthConfigFromEnv } from "../../status/health.js";
import { Metrics } from "../../status/metrics.js";
import { metricsConfigFromEnv } from "../../status/metrics-server.js";
import { proxyHealthConfigFromEnv } from "../../status/proxy-health.js";
import { ignoredConfigMessage } from "../agent-status.js";
import { agentConfigFromEnv, graphConfigFromEnv } from "../config.js";
import { logNatFirst, logNatStarted, summary } from "../daemon.js";
import type { Dataplane } from "../dataplane.js";
import { isPartial } from "../datastore/batch.js";
import { maxFileBytesFromEnv } from "../datastore/manifest-reader.js";
import { openDatastore } from "../datastore/open.js";
import { demoCommand } from "../demo/command.js";
import { type FirstBatch, readFromNow } from "../first-batch.js";
import { readDefaultGateways } from "../gateways.js";
import { limitHeapGrowth } from "../heap.js";
import {
  addrReader,
  HostAddressFeed,
  notHostInterface,
  parseHostAddresses,
  parseHostInterfaces,
  readHostAddresses,
  readHostInterfaces,
} from "../host-addresses.js";
import { kernelDataplane } from "../kernel.js";
import {
  commandVersion,
  detectFeatures,
  kubeIpvsPresent,
  loadSctpConntrack,
  SCTP_CONNTRACK_MODULE,
} from "../kernel-features.js";
import { createLogger, type LogFormat } from "../log.js";
import { NatFirstBatch, natFirstFits, natKindsAhead } from "../nat-first.js";
import {
  kubeProxyNftPresent,
  listNftTables,
  NftablesModeSetting,
  readNftablesSetting,
  resolveNftablesMode,
} from "../nftables-mode.js";
import { preflight } from "../preflight.js";
import { loadRuleRenderer } from "../rule-renderers.js";
import { startProbe } from "../start-probes.js";

const TCP_BE_LIBERAL = "/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal";

/** A /proc/sys value, or undefined when it cannot be read (module not loaded). */
function readSysctl(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

import { RuntimeError, runProgram, UsageError } from "./errors.js";

/** Felix's exit code for "restart me with the new configuration". */
const CONFIG_CHANGED_EXIT_CODE = 129;
let restartRequested = false;

interface Options {
  datastore: "file" | "kubernetes";
  resources?: string;
  kubeconfig?: string;
  nodeName?: string;
  once?: boolean;
  logLevel?: string;
  logFormat?: LogFormat;
}

async function run(o: Options): Promise<void> {
  let cfg: ReturnType<typeof agentConfigFromEnv>;
  let graphCfg: ReturnType<typeof graphConfigFromEnv>;
  let log: ReturnType<typeof createLogger>;
  let healthCfg: ReturnType<typeof healthConfigFromEnv>;
  let metricsCfg: ReturnType<typeof metricsConfigFromEnv>;
  let statusCfg: ReturnType<typeof endpointStatusConfigFromEnv>;
  let proxyHealthCfg: ReturnType<typeof proxyHealthConfigFromEnv>;
  let maxFileBytes: number;
  let nftSetting: NftablesModeSetting;
  const nodeName = o.nodeName ?? process.env.NODENAME ?? process.env.FELIX_FELIXHOSTNAME;
  try {
    cfg = agentConfigFromEnv(process.env);
    // The daemon bounds its heap from the start; `--once` exits after one apply and keeps V8's own
    // growth (src/heap.ts).
    if (!o.once) limitHeapGrowth(cfg.heapGrowthPercent ?? 0);
    nftSetting = new NftablesModeSetting(nodeName ?? "", process.env);
    log = createLogger(o.logLevel ?? cfg.logLevel, o.logFormat);
    if (!nodeName) throw new Error("--node-name is required (or NODENAME)");
    if (o.datastore === "file" && !o.resources) throw new Error("--resources <dir> is required with --datastore file");
    graphCfg = { ...graphConfigFromEnv(nodeName, process.env), gatewayIPs: readDefaultGateways() };
    healthCfg = healthConfigFromEnv(process.env);
    metricsCfg = metricsConfigFromEnv(process.env);
    statusCfg = endpointStatusConfigFromEnv(process.env);
    proxyHealthCfg = proxyHealthConfigFromEnv(process.env);
    maxFileBytes = maxFileBytesFromEnv(process.env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // Detection's saves are kept for the start's probes (src/kernel.ts). With FELIX_NFTABLESMODE=Enabled
  // no iptables backend is used (only read for leftovers of ours): none is chosen.
  const starts = new StartSaves();
  const modeP = (
    nftSetting.value === "Enabled" && nftSetting.fromEnv
      ? Promise.resolve<IptablesMode>("legacy")
      : chooseBackend(cfg.iptablesBackend, starts.save)
  ).catch((e: Error) => {
    throw new UsageError(e.message);
  });
  modeP.catch(() => {}); // awaited below, after the datastore is open
  const metrics = new Metrics();
  // Without FELIX_NFTABLESMODE the FelixConfigurations choose the policy dataplane (nftablesMode), and
  // with it the graph's renderer: the Kubernetes datastore lists them first; the file datastore's first
  // batch is held until it completes.
  const source = await openDatastore(
    { ...o, configFirst: !nftSetting.fromEnv, ahead: natKindsAhead(graphCfg) },
    log,
    metrics,
    maxFileBytes,
  );
  // The datastore is read from here on (files parsed, LIST pages fetched) while the start-up probes below
  // wait for their programs; what it sends meanwhile is kept for the graph.
  const early = nftSetting.fromEnv ? readFromNow(source.updates) : undefined;
  const firstP = nftSetting.fromEnv ? undefined : readNftablesSetting(source.updates, nftSetting);
  firstP?.catch(() => {}); // awaited below
  // Probes that depend on nothing else, at once.
  const [mode, nftTables, sctp] = await Promise.all([modeP, listNftTables([], startProbe), loadSctpConntrack()]);
  let first: Pick<FirstBatch<ResourceUpdate[]>, "rest" | "stop"> | undefined = early;
  if (firstP) {
    try {
      first = await firstP;
    } catch (e) {
      throw new RuntimeError(`cannot read the ${o.datastore} datastore: ${(e as Error).message}`);
    }
  }
  const kubeProxyNft = kubeProxyNftPresent(nftTables);
  const policy = resolveNftablesMode(nftSetting.value, kubeProxyNft);
  if (graphCfg.proxyMode === "nftables" && policy !== "nftables") {
    // kube-proxy's nftables layout lives in our nft table; kube-proxy's modes are exclusive, so no mixing.
    throw new UsageError(
      `FELIX_PROXYMODE=nftables needs the nftables dataplane, but FELIX_NFTABLESMODE=${nftSetting.value} chose iptables (set FELIX_NFTABLESMODE=Enabled, or FELIX_PROXYMODE=iptables)`,
    );
  }
  // nft's `masquerade fully-random` needs only the kernel's support (iptables' needs 1.6.2 too).
  const [problems, restoreVersion] = await Promise.all([
    preflight(mode, undefined, policy),
    policy === "nftables" ? "v1.6.2" : commandVersion(binary(4, mode, "restore")).catch(() => ""),
  ]);
  if (problems.length) throw new RuntimeError(problems.join("\n"));
  graphCfg = { ...graphCfg, ruleRenderer: await loadRuleRenderer(policy) };
  // Felix's start-up checks: what the kernel and iptables support, kube-proxy in IPVS mode, SCTP conntrack.
  const features = detectFeatures(restoreVersion, release());
  const kubeIpvs = kubeIpvsPresent();
  graphCfg = {
    ...graphCfg,
    // What detection found; featureDetectOverride (FelixConfiguration or env) wins in the settings.
    masqFullyRandom: features.masqFullyRandom,
    // kube-proxy keeps INVALID packets when the kernel is liberal about TCP windows.
    ...(graphCfg.kubeProxy
      ? { kubeProxy: { ...graphCfg.kubeProxy, conntrackTCPLiberal: readSysctl(TCP_BE_LIBERAL) === "1" } }
      : {}),
    kubeIPVSSupport: graphCfg.kubeIPVSSupport || kubeIpvs,
  };
  log.info(
    { masqFullyRandom: features.masqFullyRandom, kubeIPVSSupport: graphCfg.kubeIPVSSupport, kubeIpvsDevice: kubeIpvs },
    "kernel features",
  );
  log.info({ module: SCTP_CONNTRACK_MODULE, outcome: sctp }, "SCTP conntrack");
  // IPVS support needs this host's own addresses (the this-host set), read from the kernel.
  const notHost = notHostInterface(graphCfg.interfacePrefix ?? "cali", IPVS_DEVICE);
  // --nodeport-addresses CIDRs select among this host's addresses too.
  const nodePortCidrs =
    (graphCfg.proxyMode === "iptables" || graphCfg.proxyMode === "nftables") &&
    graphCfg.kubeProxy?.nodePortAddresses.kind === "cidrs";
  const kernel = await kernelDataplane(
    cfg,
    mode,
    log.child({ component: policy }),
    metrics,
    graphCfg.proxyMode,
    graphCfg.interfacePrefix,
    policy,
    !o.once,
    starts,
  );
  const hostAddresses =
    graphCfg.kubeIPVSSupport || nodePortCidrs
      ? {
          read: () => readHostAddresses(notHost, kernel.spawn),
          feed: new HostAddressFeed(
            addrReader((json) => parseHostAddresses(json, notHost), kernel.spawn),
            (e) => log.warn({ err: e.message }, "reading this host's addresses failed"),
          ),
        }
      : undefined;
  // Host endpoints placed by expectedIPs need to know which interface carries which address.
  const hostInterfaces = new HostAddressFeed<Map<string, string[]>>(
    addrReader((json) => parseHostInterfaces(json, notHost), kernel.spawn),
    (e) => log.warn({ err: e.message }, "reading this host's interfaces failed"),
  );

  log.info(
    {
      node: nodeName,
      datastore: o.datastore,
      dataplane: policy,
      nftablesMode: nftSetting.value,
      ...(nftSetting.value === "Auto" ? { kubeProxyNftables: kubeProxyNft } : {}),
      ...(policy === "iptables" ? { backend: mode } : {}),
      ipv6: kernel.ipv6,
      once: Boolean(o.once),
    },
    "felix starting",
  );
  const kubeConfig = source.kubeConfig;
  const updates = first?.rest ?? source.updates;
  if (o.once) {
    const t0 = performance.now();
    // The graph's indexes and the parsed objects are garbage once the snapshot is computed: only
    // the snapshot is held through the kernel writes (peak RSS).
    const [addresses, interfaces] = await Promise.all([
      hostAddresses?.read(),
      readHostInterfaces(notHost, kernel.spawn).catch((e: Error) => {
        log.warn({ err: e.message }, "reading this host's interfaces failed");
        return undefined;
      }),
    ]);
    const host = { addresses, interfaces };
    // In two stages where it pays (src/nat-first.ts): the nat table is written while the other kinds go in.
    const twoStages = natFirstFits(graphCfg, kernel.dataplane);
    const { state, early } = await onceSnapshot(
      updates,
      new CalcGraph(graphCfg),
      host,
      o.datastore,
      twoStages && kernel.dataplane,
      (w) => logNatStarted(log, w, t0),
    );
    const snapshotMs = +(performance.now() - t0).toFixed(1);
    first?.stop();
    // Logged when it ends; the apply below starts now (it waits for stage 1 only where it must).
    const natLogged = early?.done.then((r) => logNatFirst(log, r, t0));
    for (const p of Object.values(state.problems)) {
      log.warn({ resource: p.key, file: p.source?.file, line: p.source?.line }, p.message);
    }
    const ignored = state.config?.ignored ?? [];
    if (ignored.length > 0) log.warn({ fields: ignored }, ignoredConfigMessage(ignored));
    let r: Awaited<ReturnType<typeof kernel.dataplane.apply>>;
    try {
      r = await kernel.dataplane.apply(state);
    } catch (e) {
      const err = e as Error & { line?: string };
      throw new RuntimeError(
        `programming the kernel failed: ${err.message}${err.line ? `\noffending line: ${err.line}` : ""}`,
      );
    }
    await natLogged;
    for (const w of r.warnings) log.warn(w);
    log.info(
      { ...summary(r), ms: +(performance.now() - t0).toFixed(1), snapshotMs },
      r.changes === 0 ? "dataplane already in sync: no changes" : "dataplane programmed",
    );
    kernel.close();
    return;
  }

  // Loaded here: `--once` needs none of the daemon's status servers, link monitor and NFLOG reader.
  const { runDaemon } = await import("./felix-daemon.js");
  await runDaemon({
    cfg,
    graphCfg,
    log,
    metrics,
    healthCfg,
    metricsCfg,
    statusCfg,
    proxyHealthCfg,
    kernel,
    kubeConfig,
    nodeName,
    updates,
    hostAddresses,
    hostInterfaces,
    kubeIpvs,
    nftSetting,
    kubeProxyNft,
    policy,
    requestRestart: () => {
      restartRequested = true;
      process.kill(process.pid, "SIGTERM");
    },
  });
}

/** The snapshot of the datastore's first batch; parts of it go into the graph as they come (datastore/batch.ts). */
async function onceSnapshot(
  updates: Observable<ResourceUpdate[]>,
  graph: CalcGraph,
  host: { addresses?: readonly string[]; interfaces?: ReadonlyMap<string, readonly string[]> },
  datastore: string,
  /** The first batch in two stages: its nat kinds' snapshot goes to this dataplane's stage 1 first. */
  natFirst: Pick<Dataplane, "natFirst"> | false,
  /** Told of stage 1's write when it begins. */
  onStage1: (w: NonNullable<ReturnType<Dataplane["natFirst"]>>) => void,
): Promise<{ state: DesiredState; early?: ReturnType<Dataplane["natFirst"]> }> {
  const stager = natFirst ? new NatFirstBatch(graph) : undefined;
  if (host.addresses) graph.setHostAddresses(host.addresses);
  if (host.interfaces) graph.setHostInterfaces(host.interfaces);
  // Stage 1 begins at the part after which it may (NatFirstBatch.takeAndStage); the parts after it go on coming.
  const take = (s: NatFirstBatch, d: Pick<Dataplane, "natFirst">, part: readonly ResourceUpdate[]) => {
    const write = s.takeAndStage(part, d)?.write;
    if (write) onStage1(write);
  };
  const ingestParts = (b: ResourceUpdate[]) => {
    if (!isPartial(b)) return true;
    if (stager && natFirst) take(stager, natFirst, b);
    else graph.ingest(b);
    return false;
  };
  let batch: ResourceUpdate[];
  try {
    batch = await firstValueFrom(updates.pipe(filter(ingestParts)));
  } catch (e) {
    throw new RuntimeError(`cannot read the ${datastore} datastore: ${(e as Error).message}`);
  }
  if (!stager || !natFirst) return { state: graph.apply(batch) };
  take(stager, natFirst, batch);
  const early = stager.stage1?.write;
  await early?.started;
  return { state: stager.release(), early };
}

export function main(argv: string[]): Promise<number> {
  const program = new Command("felix")
    .description("felix-ts node agent: programs this node's network policy dataplane")
    .addOption(
      new Option("--datastore <type>", "where cluster state comes from")
        .choices(["file", "kubernetes"])
        .default("file"),
    )
    .option("--resources <dir>", "directory of manifests (file datastore)")
    .option("--kubeconfig <file>", "kubeconfig (kubernetes datastore; default $KUBECONFIG, else in-cluster)")
    .option("--node-name <node>", "this node's name (default: $NODENAME)")
    .option("--once", "program the kernel once and exit 0 when it matches")
    .option("--log-level <level>", "trace, debug, info, warn, error (default: $FELIX_LOGSEVERITYSCREEN or info)")
    .addOption(new Option("--log-format <format>", "json, or text (default on a terminal)").choices(["json", "text"]))
    .showHelpAfterError()
    .action(async (o: Options) => run(o));
  // `felix demo …`: the agent's own options stay before a subcommand.
  program.enablePositionalOptions().addCommand(demoCommand());
  return runProgram("felix", program, argv);
}

// Exit explicitly: a watch request still in flight (the API server never answered) must not keep a stopped agent alive.
const rc = await main(process.argv.slice(2));
process.exit(restartRequested ? CONFIG_CHANGED_EXIT_CODE : rc);
