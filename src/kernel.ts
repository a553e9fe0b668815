// Builds the real dataplane for the current network namespace.

import type { Logger } from "pino";
import type { ProxyMode } from "../calc-graph/services/model.js";
import { ProcSysctls, SysctlReconciler } from "../ifaces/sysctl-writer.js";
import { IpTunnelLinks } from "../ifaces/tunnel-links.js";
import { DEFAULT_MTU_FILE, TunnelReconciler } from "../ifaces/tunnel-reconciler.js";
import {
  backendAvailable,
  ExecIptablesBackend,
  type IptablesBackend,
  type IptablesMode,
  LOCK_TIMEOUT_SECONDS,
  type RestoreOptions,
  restorePartsOf,
} from "../iptables/backend.js";
import { StartSaves } from "../iptables/detect.js";
import { CommandNotFoundError, type HoldAt, type Spawn } from "../iptables/exec.js";
import { ExecIpsetBackend, type IpsetBackend } from "../iptables/ipset-backend.js";
import { IpsetSyncer } from "../iptables/ipset-syncer.js";
import { SpawnHelper } from "../iptables/spawner.js";
import { TableSyncer } from "../iptables/table-syncer.js";
import { FlockLockFile, machineLockFile, XtablesLock } from "../iptables/xtables-lock.js";
import { ConntrackCli, findConntrack } from "../routes/conntrack.js";
import { NeighborReconciler } from "../routes/neighbor-reconciler.js";
import { KernelNetlinkNeighbors } from "../routes/netlink-neighbors.js";
import { KernelNetlinkRoutes } from "../routes/netlink-routes.js";
import { RouteReconciler } from "../routes/route-reconciler.js";
import { ServiceConntrackCli } from "../routes/service-conntrack.js";
import type { Metrics } from "../status/metrics.js";
import type { AgentConfig } from "./config.js";
import { Dataplane } from "./dataplane.js";
import type { NftPolicy } from "./dataplane-nft.js";
import { IptablesLeftovers, type Leftovers, NftLeftovers } from "./mode-leftovers.js";
import { listNftTables, ourNftTablesIn } from "./nftables-mode.js";
import type { RuleDataplane } from "./rule-renderers.js";
import { startProbe } from "./start-probes.js";

export interface KernelParts {
  readonly dataplane: Dataplane;
  readonly policy: RuleDataplane;
  readonly mode: IptablesMode;
  readonly ipv6: boolean;
  /** Starts small programs through the spawn helper (iptables mode; else undefined: forked from ours). */
  readonly spawn?: Spawn;
  /** Releases the netlink socket. */
  readonly close: () => void;
}

export async function kernelDataplane(
  cfg: AgentConfig,
  mode: IptablesMode,
  log: Logger,
  metrics: Metrics,
  proxyMode: ProxyMode = "off",
  /** Workload interface prefix (FELIX_INTERFACEPREFIX): CNI routes on such interfaces are adopted. */
  interfacePrefix = "cali",
  /** Which policy dataplane (src/nftables-mode.ts); the other one's state of ours is removed once this one is in. */
  policy: RuleDataplane = "iptables",
  /**
   * The daemon's per-change programs through the spawn helper (iptables/spawner.ts). `felix --once`
   * forks its few from ours: the helper, a second node process, cost it more CPU than it saved.
   */
  spawnHelper = true,
  /** The start's saves (backend detection's): they answer availability probes, and in nftables mode the leftovers' first reads. Cleared here. */
  starts?: StartSaves,
): Promise<KernelParts> {
  const nft = policy === "nftables";
  // iptables mode: backend detection's full save of ip6tables (when it ran one: FELIX_IPTABLESBACKEND auto,
  // no kube-proxy hint) tells whether it works. It is not the table syncers' first read: a view from
  // seconds before the first apply would miss a flush made meanwhile (a host firewall starting with us)
  // and leave the node without our rules until the next refresh.
  const ran6 = nft ? undefined : starts?.take(6, mode);
  // The start-up probes below wait for programs only: at once.
  const [xtablesLock, ipv6Usable, leftovers] = await Promise.all([
    !nft && mode === "legacy" ? heldXtablesLock(log) : undefined,
    cfg.ipv6Support && (nft || (ran6 ? ran6.then((t) => t !== undefined) : backendAvailable(6, mode))),
    nft ? iptablesLeftovers(starts) : nftLeftovers(),
  ]);
  starts?.clear();
  // The per-change restores and ipset runs are started by a small helper process, not forked from ours.
  const spawner = nft || !spawnHelper ? undefined : new SpawnHelper();
  void spawner?.open(); // programs started before it is up are forked from ours
  const syncer = (family: 4 | 6) =>
    new TableSyncer(new CountingBackend(new ExecIptablesBackend(family, mode, xtablesLock, spawner?.spawn), metrics), {
      onRetry: (attempt, e) => {
        const err = e as Error & { line?: string };
        log.warn(
          { family, attempt, err: err.message, line: err.line },
          "iptables-restore failed; resyncing and retrying",
        );
      },
    });
  const netlink = new KernelNetlinkRoutes();
  const neighbors = new KernelNetlinkNeighbors();
  const ipv6 = ipv6Usable === true;
  const conntrack = findConntrack();
  if (!conntrack) {
    log.warn(
      "conntrack (conntrack-tools) not found: flows of a deleted pod are not cleared when its address goes to a new pod, nor UDP flows to a service endpoint that went away",
    );
  }
  if (cfg.ipv6Support && !ipv6) log.warn("IPv6 support is on but ip6tables is not usable here: programming IPv4 only");
  const nftClose: (() => void)[] = [];
  // Each mode's own modules are loaded by it only (src/kernel-nft.ts; IPVS in proxy mode ipvs only).
  const policySteps: { ipsets?: IpsetSyncer; ipv4?: TableSyncer; ipv6?: TableSyncer; nft?: NftPolicy } = nft
    ? { nft: (await import("./kernel-nft.js")).nftPolicy(ipv6, metrics, log, nftClose) }
    : {
        ipsets: new IpsetSyncer(new CountingIpsetBackend(new ExecIpsetBackend(spawner?.spawn), metrics), {
          maxelem: cfg.maxIpSetSize,
        }),
        ipv4: syncer(4),
        ipv6: ipv6 ? syncer(6) : undefined,
      };
  const dataplane = new Dataplane({
    ...policySteps,
    ...(leftovers ? { leftovers } : {}),
    routes: new RouteReconciler(netlink, { workloadPrefixes: [interfacePrefix] }),
    sysctls: new SysctlReconciler(new ProcSysctls()),
    // The real IPVS backend only in proxy mode ipvs (it reports a kernel without IPVS clearly).
    ipvs: proxyMode === "ipvs" ? await ipvsSync() : undefined,
    tunnels: new TunnelReconciler(new IpTunnelLinks(), { mtuFile: cfg.mtuFilePath ?? DEFAULT_MTU_FILE }),
    neighbors: new NeighborReconciler(neighbors, ["vxlan.calico", "vxlan-v6.calico"]),
    ...(conntrack ? { conntrack: new ConntrackCli(conntrack) } : {}),
    // Stale UDP entries of services: only when this agent proxies them.
    ...(conntrack && proxyMode !== "off" ? { serviceConntrack: new ServiceConntrackCli(conntrack) } : {}),
  });
  return {
    dataplane,
    policy,
    mode,
    ipv6,
    ...(spawner ? { spawn: spawner.spawn } : {}),
    close: () => {
      netlink.close();
      neighbors.close();
      for (const c of nftClose) c();
      xtablesLock?.close();
      spawner?.close();
    },
  };
}

/**
 * Legacy iptables: the machine's xtables lock, held by the agent over its restores so that
 * both families' run at once (iptables/xtables-lock.ts); without flock(1), each restore
 * takes the lock itself, as before.
 */
async function heldXtablesLock(log: Logger): Promise<XtablesLock | undefined> {
  const found = await startProbe("flock", ["--version"]).then(
    (r) => r.code === 0,
    () => false,
  );
  if (!found) {
    log.info("flock (util-linux) not found: the IPv4 and IPv6 restores take the xtables lock one after the other");
    return undefined;
  }
  const file = new FlockLockFile(machineLockFile(), LOCK_TIMEOUT_SECONDS);
  file.open();
  return new XtablesLock(file);
}

/** nftables mode: our rules and IP sets in every iptables backend present here (both families). */
async function iptablesLeftovers(starts = new StartSaves()): Promise<Leftovers | undefined> {
  const backends = (["legacy", "nft"] as const).flatMap((mode) =>
    ([4, 6] as const).map((family) => ({ family, mode })),
  );
  // One full save of each backend (backend detection's, when it ran them) tells whether it works and is
  // the first read, taken now, while our nft tables are not loaded: no `-t filter` probe, no second save.
  const [saved, ipsetUsable] = await Promise.all([
    Promise.all(backends.map((b) => starts.save(b.family, b.mode))),
    ipsetAvailable(),
  ]);
  const tables = backends.flatMap((b, i) => {
    const text = saved[i];
    if (text === undefined) return [];
    const t = new TableSyncer(new ExecIptablesBackend(b.family, b.mode));
    t.adopt(text);
    return [t];
  });
  const ipsets = ipsetUsable ? new IpsetSyncer(new ExecIpsetBackend()) : undefined;
  if (tables.length === 0 && !ipsets) return undefined;
  return new IptablesLeftovers(tables, ipsets);
}

/** iptables mode: our nft tables (`calico`, the `calico-nat*` ones), where nft runs and lists one of them. */
async function nftLeftovers(): Promise<Leftovers | undefined> {
  // The table list felix read at start for nftablesMode Auto answers this too (one listing per start,
  // src/nftables-mode.ts): without a table of ours in it, nothing is to go, and nft is not asked for each (18 runs).
  if (!ourNftTablesIn(await listNftTables([], startProbe))) return undefined;
  const { ExecNftBackend } = await import("../nftables/backend.js");
  return new NftLeftovers([new ExecNftBackend("ip"), new ExecNftBackend("ip6")]);
}

/** The IPVS reconciler (proxy mode ipvs only; it reports a kernel without IPVS clearly). */
async function ipvsSync() {
  const [{ IpvsSync }, { IpvsadmBackend }, { IpCommandDevice }] = await Promise.all([
    import("../ipvs/ipvs-sync.js"),
    import("../ipvs/ipvsadm-backend.js"),
    import("../ipvs/service-device.js"),
  ]);
  return new IpvsSync(new IpvsadmBackend(), new IpCommandDevice());
}

async function ipsetAvailable(): Promise<boolean> {
  try {
    return (await startProbe("ipset", ["version"])).code === 0;
  } catch (e) {
    if (e instanceof CommandNotFoundError) return false;
    throw e;
  }
}

/** One restore or nft transaction into restoreCalls, and into restoreErrors when refused. */
export async function counted(metrics: Metrics, f: () => Promise<void>): Promise<void> {
  metrics.restoreCalls.inc();
  try {
    await f();
  } catch (e) {
    metrics.restoreErrors.inc();
    throw e;
  }
}

/** Counts ipset calls and errors into the metrics. */
export class CountingIpsetBackend implements IpsetBackend {
  constructor(
    private readonly inner: IpsetBackend,
    private readonly metrics: Metrics,
  ) {}
  save() {
    return this.count(() => this.inner.save());
  }
  restore(input: string, after?: Promise<unknown>) {
    return this.count(() => this.inner.restore(input, after));
  }
  private async count<T>(f: () => Promise<T>): Promise<T> {
    this.metrics.ipsetCalls.inc();
    try {
      return await f();
    } catch (e) {
      this.metrics.ipsetErrors.inc();
      throw e;
    }
  }
}

/** Counts restore calls and errors into the metrics. */
export class CountingBackend implements IptablesBackend {
  constructor(
    private readonly inner: IptablesBackend,
    private readonly metrics: Metrics,
  ) {}
  get family() {
    return this.inner.family;
  }
  get mode() {
    return this.inner.mode;
  }
  save() {
    return this.inner.save();
  }
  restore(input: string) {
    return this.count(() => this.inner.restore(input));
  }
  restoreParts(parts: readonly string[], hold?: HoldAt, o?: RestoreOptions) {
    return this.count(() => restorePartsOf(this.inner, parts, hold, o));
  }
  private count(f: () => Promise<void>): Promise<void> {
    return counted(this.metrics, f);
  }
}
