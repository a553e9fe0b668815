// The dataplane driver: takes DesiredState snapshots and makes the kernel
// match, in the order that keeps the node safe:
//
//   1. IP sets: create (every set exists before a rule names it), then fill
//   2. iptables, both families at once (a pod's chains exist before its route):
//      planned and their programs started while the sets are created, each
//      reading its input once they exist, loaded while the sets fill; a table
//      whose rules use a set commits only once the members are in (and not at
//      all if that write fails)
//   3. IP sets: destroy stale ones (after no rule references them: the program
//      starts with the restores and destroys once both families are in)
//      (nftables mode: 1-3 are one transaction per family, sets and chains
//      together — at a start one per table —, dataplane-nft.ts); then, once, the other mode's
//      leftovers of ours go (mode switch: policy is in force before they do)
//   4. tunnel devices (IP pools), then routes, then the tunnels' neighbour/FDB entries;
//      before the routes, the conntrack entries of workload addresses whose
//      local route goes away or moves (routes/conntrack.ts)
//   5. sysctls
//   6. IPVS (proxy mode ipvs): service IPs on the dummy device, then the
//      IPVS table; last, so a kernel without IPVS (a warning, retried on
//      every apply) never holds up policy, routes or sysctls
//   7. stale UDP conntrack entries of services (calc-graph/services/stale-udp.ts),
//      once the rules that send new datagrams to the right endpoints are in
//
// Every step reads the kernel (or trusts its cache until `resync()`), diffs,
// and writes the smallest change; a step whose part of the snapshot is the
// very object it applied last time is skipped (until `resync()`, or for
// routes and sysctls `linksChanged()`). Failures are reported, not thrown past the
// caller's retry: a step that fails leaves the earlier ones in place.

import type { DesiredState } from "../calc-graph/desired-state.js";
import type { IpvsDesired } from "../calc-graph/services/ipvs-desired.js";
import { changedUdpFrontends, staleUdpFlows } from "../calc-graph/services/stale-udp.js";
import type { SysctlApplyResult } from "../ifaces/sysctl-writer.js";
import type { IpsetSyncer } from "../iptables/ipset-syncer.js";
import type { TableSyncer } from "../iptables/table-syncer.js";
import { type ConntrackTable, movedWorkloadAddresses } from "../routes/conntrack.js";
import type { Route } from "../routes/route.js";
import type { RouteApplyResult } from "../routes/route-reconciler.js";
import type { ServiceConntrack } from "../routes/service-conntrack.js";
import { Steps } from "./apply-steps.js";
import { applyIptablesPolicy, type IptablesPolicy } from "./dataplane-iptables.js";
import { applyNatFirst, type NatFirstResult } from "./dataplane-nat-first.js";
import type { NeighborSync, NetworkSync } from "./dataplane-network.js";
import { applyNftNatFirst, applyNftPolicy, type NftPolicy } from "./dataplane-nft.js";
import type { Leftovers } from "./mode-leftovers.js";

/** The route reconciler, as the driver uses it. */
export interface RouteSync {
  setDesired(routes: Readonly<Record<string, Route>>): void;
  apply(): Promise<RouteApplyResult>;
  /** Routes waiting for a device or gateway since the last apply. */
  readonly pending: readonly unknown[];
}

/** The sysctl reconciler, as the driver uses it. */
export interface SysctlSync {
  setDesired(values: Readonly<Record<string, string>>): void;
  apply(): Promise<SysctlApplyResult>;
  /** Paths missing at the last apply (an interface not there yet). */
  readonly missing: readonly string[];
}

/** The IPVS step (ipvs/ipvs-sync.ts), as the driver uses it. */
export interface IpvsStep {
  apply(d: IpvsDesired): Promise<{ readonly changes: number }>;
  /** Real servers draining at weight 0: the step runs again until none is left. */
  readonly draining: number;
}

export interface ApplyResult {
  /** Kernel writes made: iptables lines, IP set members/sets, routes, sysctls. */
  readonly changes: number;
  readonly iptablesBytes: number;
  readonly ipsetBytes: number;
  /** nftables mode: bytes of the `nft -f` transactions (sets and chains). */
  readonly nftBytes?: number;
  /** Time spent inside iptables-restore and ipset restore (or nft -f), ms: the kernel-write floor. */
  readonly restoreMs: number;
  readonly routes: { added: number; removed: number; pending: number };
  readonly sysctlsWritten: number;
  /** Non-fatal failures (routes or sysctls that wait for an interface, etc.). */
  readonly warnings: string[];
  /** IPVS kernel writes (virtual/real servers, dummy-device addresses); 0 when the step did not run. */
  readonly ipvsChanges?: number;
  /** Stale UDP conntrack entries of services deleted. */
  readonly udpFlowsDeleted?: number;
  /** Wall time of each step that ran, ms (where an apply's time goes; logged with it). */
  readonly stepsMs?: Readonly<Record<string, number>>;
}

export interface DataplaneOptions {
  /** iptables mode: IP sets and both families' tables (absent in nftables mode). */
  readonly ipsets?: IpsetSyncer;
  readonly ipv4?: TableSyncer;
  readonly ipv6?: TableSyncer;
  /** nftables mode: our `calico` table per family, sets included (instead of ipsets/ipv4/ipv6). */
  readonly nft?: NftPolicy;
  /** The other mode's state of ours, removed once after this mode's policy is in force. */
  readonly leftovers?: Leftovers;
  readonly routes?: RouteSync;
  readonly sysctls?: SysctlSync;
  /** Only in proxy mode ipvs. */
  readonly ipvs?: IpvsStep;
  /** Tunnel devices and the pod MTU file (IP pools). */
  readonly tunnels?: NetworkSync;
  /** Neighbour and FDB entries on the tunnel devices. */
  readonly neighbors?: NeighborSync;
  /** Deletes the conntrack entries of workload addresses that left or moved. */
  readonly conntrack?: ConntrackTable;
  /** Lists and deletes services' stale UDP conntrack entries. */
  readonly serviceConntrack?: ServiceConntrack;
}

/** What the policy step (IP sets and tables, or the nft tables) wrote. */
export interface PolicyResult {
  readonly changes: number;
  readonly iptablesBytes: number;
  readonly ipsetBytes: number;
  readonly nftBytes?: number;
  readonly restoreMs: number;
  readonly warnings: readonly string[];
  readonly stepsMs?: Readonly<Record<string, number>>;
}

export class Dataplane {
  /** The last state applied in full; parts that keep their identity need no kernel work. */
  private last: DesiredState | undefined;
  private forceAll = true;
  private forceLinks = false;
  /** The last IPVS step failed: run it again even if `ipvs` kept its identity. */
  private ipvsFailed = false;
  /** The routes last handed to the route step (kept across resyncs): what moved since. */
  private lastRoutes: Readonly<Record<string, Route>> | undefined;
  /** The services whose stale UDP entries were last cleaned (kept across resyncs). */
  private lastServices: DesiredState["services"] | undefined;

  /** The other mode's leftovers are gone (or there were none to remove). */
  private leftoversDone = false;
  /**
   * A stage-1 write in progress (natFirst): the next apply waits for its IP sets before its own,
   * and for its tables before its own restores (its sets fill meanwhile).
   */
  private early: { sets: Promise<unknown>; done: Promise<unknown> } | undefined;

  constructor(private readonly o: DataplaneOptions) {
    if (!o.nft && !(o.ipsets && o.ipv4)) throw new Error("Dataplane needs the iptables syncers or the nft ones");
  }

  /** True in nftables mode. */
  get nftables(): boolean {
    return this.o.nft !== undefined;
  }

  /** Forget cached kernel views: the next apply re-reads everything (drift repair). */
  resync(): void {
    this.o.ipv4?.invalidate();
    this.o.ipv6?.invalidate();
    this.o.ipsets?.invalidate();
    this.o.nft?.ipv4.invalidate();
    this.o.nft?.ipv6?.invalidate();
    this.forceAll = true;
  }

  /** Interfaces came or changed: the next apply re-checks routes and sysctls. */
  linksChanged(): void {
    this.forceLinks = true;
  }

  /**
   * Stage 1 of a cold start (src/nat-first.ts): both families' nat tables and the IP sets
   * their rules use, written in the background; nothing else, and nothing deleted (nftables
   * mode: the nat tables not there, each loaded whole, sets included). `started`: the writes
   * have their whole input, so the caller may keep the main thread busy; `done`: they ended,
   * with their result or error (never rejects: after a failure the kernel is re-read and the
   * next apply writes everything, as without stage 1). The next apply waits for it (nftables
   * mode: wholly, as the same syncers write both).
   */
  natFirst(state: DesiredState): { started: Promise<void>; done: Promise<NatFirstResult | Error> } | undefined {
    if (this.early) return undefined;
    let started = () => {};
    const startedP = new Promise<void>((r) => (started = r));
    let setsDone = () => {};
    const sets = new Promise<void>((r) => (setsDone = r));
    const write = this.o.nft
      ? applyNftNatFirst(this.o.nft, state, started)
      : applyNatFirst(this.iptablesPolicy(), state, started, setsDone);
    const done = write.catch((e: Error) => {
      this.resync();
      return e;
    });
    const early = {
      sets: this.o.nft ? done : Promise.race([sets, done]),
      done: done.finally(() => {
        if (this.early === early) this.early = undefined;
      }),
    };
    this.early = early;
    return { started: Promise.race([startedP, done.then(() => {})]), done };
  }

  async apply(state: DesiredState): Promise<ApplyResult> {
    const early = this.early;
    await early?.sets;
    // Snapshots share unchanged parts by identity: a part equal to what was
    // last applied (and not invalidated since) is already in the kernel.
    const last = this.forceAll ? undefined : this.last;
    const links = this.forceLinks || !last;
    this.last = undefined; // until this apply has succeeded
    this.forceAll = false;
    this.forceLinks = false;
    try {
      const r = await this.applyChanged(state, last, links, early?.done);
      this.last = state;
      return r;
    } catch (e) {
      this.forceAll = true;
      throw e;
    }
  }

  private async applyChanged(
    state: DesiredState,
    last: DesiredState | undefined,
    linksChanged: boolean,
    /** Stage 1's write, still in progress: the restores wait for it. */
    tablesAfter?: Promise<unknown>,
  ): Promise<ApplyResult> {
    let links = linksChanged;
    const warnings: string[] = [];
    const steps = new Steps();
    const policy = this.o.nft
      ? await applyNftPolicy(this.o.nft, state, last)
      : await applyIptablesPolicy(this.iptablesPolicy(), state, last, tablesAfter);
    if (policy.stepsMs) Object.assign(steps.ms, policy.stepsMs);
    steps.mark("policy");
    warnings.push(...policy.warnings);
    const leftoverChanges = await this.removeLeftovers(warnings);

    // Tunnel devices before the routes that go through them; a re-created
    // device lost its routes and neighbours, so those are re-checked too.
    let tunnelChanges = 0;
    // Without pools a new pod interface needs no tunnel check (only a resync or a network change does).
    const tunnelsDue = !last || last.network !== state.network || (links && state.network.poolsInUse);
    if (this.o.tunnels && tunnelsDue) {
      this.o.tunnels.setDesired(state.network);
      const r = await this.o.tunnels.apply();
      tunnelChanges = r.changes;
      warnings.push(...r.warnings);
      steps.mark("tunnels");
    }
    if (tunnelChanges > 0) links = true;
    let routes = { added: 0, removed: 0, pending: 0 };
    if (this.o.routes && (links || last?.routes !== state.routes || this.o.routes.pending.length > 0)) {
      if (this.o.conntrack && this.lastRoutes !== state.routes) {
        // Before the address's new route: no flow of its old pod reaches the new one.
        for (const ip of movedWorkloadAddresses(this.lastRoutes, state.routes)) {
          try {
            await this.o.conntrack.deleteFlows(ip);
          } catch (e) {
            warnings.push(`conntrack entries of ${ip}: ${(e as Error).message}`);
          }
        }
      }
      this.lastRoutes = state.routes;
      this.o.routes.setDesired(state.routes);
      const r = await this.o.routes.apply();
      routes = {
        added: r.added.length + r.replaced.length + (r.adopted?.length ?? 0),
        removed: r.removed.length,
        pending: r.pending.length,
      };
      for (const f of r.failed) warnings.push(`route ${f.dst}: ${f.error}`);
      for (const p of r.pending) warnings.push(`route ${p.dst} waits: ${p.reason}${p.dev ? ` (${p.dev})` : ""}`);
      steps.mark("routes");
    }
    let neighborChanges = 0;
    const neighborsChanged =
      last?.network.neighbors !== state.network.neighbors || last?.network.fdb !== state.network.fdb;
    if (this.o.neighbors && (links || neighborsChanged || this.o.neighbors.pendingDevices.length > 0)) {
      this.o.neighbors.setDesired({ ...state.network.neighbors }, { ...state.network.fdb });
      const r = await this.o.neighbors.apply();
      neighborChanges = r.written + r.removed;
      for (const f of r.failed) warnings.push(`${f.entry}: ${f.error}`);
      for (const dev of r.pendingDevices) warnings.push(`neighbour/FDB entries wait for ${dev}`);
      steps.mark("neighbors");
    }
    let sysctlsWritten = 0;
    if (this.o.sysctls && (links || last?.sysctls !== state.sysctls || this.o.sysctls.missing.length > 0)) {
      this.o.sysctls.setDesired(state.sysctls);
      const r = await this.o.sysctls.apply();
      sysctlsWritten = r.written;
      for (const f of r.failed) warnings.push(`sysctl ${f.path}: ${f.error}`);
      steps.mark("sysctls");
    }
    let ipvsChanges = 0;
    const ipvs = state.ipvs;
    if (this.o.ipvs && ipvs && (last?.ipvs !== ipvs || this.ipvsFailed || this.o.ipvs.draining > 0)) {
      try {
        ipvsChanges = (await this.o.ipvs.apply(ipvs)).changes;
        this.ipvsFailed = false;
      } catch (e) {
        this.ipvsFailed = true;
        warnings.push(`IPVS: ${(e as Error).message}`);
      }
      steps.mark("ipvs");
    }
    const udpFlowsDeleted = await this.cleanStaleUdp(state, warnings);
    if (udpFlowsDeleted > 0) steps.mark("udpFlows");
    return {
      changes:
        policy.changes +
        leftoverChanges +
        routes.added +
        routes.removed +
        sysctlsWritten +
        ipvsChanges +
        tunnelChanges +
        neighborChanges,
      iptablesBytes: policy.iptablesBytes,
      ipsetBytes: policy.ipsetBytes,
      ...(policy.nftBytes !== undefined ? { nftBytes: policy.nftBytes } : {}),
      restoreMs: policy.restoreMs,
      routes,
      sysctlsWritten,
      warnings,
      ipvsChanges,
      ...(udpFlowsDeleted > 0 ? { udpFlowsDeleted } : {}),
      stepsMs: steps.ms,
    };
  }

  private iptablesPolicy(): IptablesPolicy {
    return { ipsets: this.o.ipsets!, ipv4: this.o.ipv4!, ipv6: this.o.ipv6 };
  }

  /**
   * The other mode's state of ours goes once this mode's policy is in the kernel (never
   * before: the node is never without policy). A failure is a warning, retried next apply.
   */
  private async removeLeftovers(warnings: string[]): Promise<number> {
    if (!this.o.leftovers || this.leftoversDone) return 0;
    try {
      const removed = await this.o.leftovers.remove();
      this.leftoversDone = true;
      return removed;
    } catch (e) {
      warnings.push(`removing the ${this.o.leftovers.what}: ${(e as Error).message}; will retry`);
      return 0;
    }
  }

  /** Deletes services' stale UDP conntrack entries; a failure is a warning and the next apply tries again. */
  private async cleanStaleUdp(state: DesiredState, warnings: string[]): Promise<number> {
    const ct = this.o.serviceConntrack;
    if (!ct || this.lastServices === state.services) return 0;
    const frontends = changedUdpFrontends(this.lastServices, state.services);
    let n = 0;
    let local: ReadonlySet<string> | undefined;
    try {
      for (const family of [...frontends.families].sort()) {
        if (family === 6 && !this.o.ipv6) continue;
        const flows = await ct.listUdp(family);
        local ??= frontends.byNodePort.size > 0 ? await ct.localAddresses() : new Set();
        const isLocal = (ip: string) => local!.has(ip);
        for (const f of staleUdpFlows(flows, frontends, isLocal)) n += await ct.deleteUdp(f);
      }
      this.lastServices = state.services;
    } catch (e) {
      warnings.push(`stale UDP conntrack entries of services: ${(e as Error).message}`);
    }
    return n;
  }
}
