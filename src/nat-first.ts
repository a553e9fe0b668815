// A cold start in two stages (proxy modes iptables and nftables, either dataplane):
//
//   first batch's parts ──► nat kinds: into the graph at once
//                       └─► other kinds: held, in arrival order
//   batch complete (or the file datastore's files of nat kinds in: batch.ts aheadDone)
//                  ──► snapshot of the nat kinds alone ──► Dataplane.natFirst(): both
//                      families' nat tables and the IP sets their rules use,
//                      written in the background (the programs read spooled input)
//   batch complete ──► held updates into the graph ──► full snapshot ──► the usual
//                      apply (it waits for stage 1, finds the nat table in place)
//
// The file datastore parses the files that may hold nat kinds first when asked
// (natKindsAhead): stage 1 then starts before the files that provably hold none are
// parsed, with the same nat kinds as at the complete batch (on a restart, a stage 1
// with fewer would rewrite the kernel's nat chains with less until the full apply).
// Parts after that point still go in as before (nat kinds at once, the others held).
//
// At a large cold start the kernel's nat restore (kube-proxy-style KUBE-SVC/KUBE-SEP
// chains: most of the restore's lines) then runs on the second core while the main
// thread ingests pods and policies and renders their chains.
//
// What the nat table depends on (checked in the graph): services' chains and hooks
// (calc-graph/services, rules/services*.ts) on Services and EndpointSlices, and on the
// Nodes (every node's podCIDRs for the pod-CIDR set and its addresses for refused
// external IPs, this node's name and zone labels for local endpoints and topology);
// cali-nat-outgoing and cali-POSTROUTING (network/render.ts) on IP pools, block
// affinities, Nodes (tunnel addresses) and FelixConfiguration; the static chains on
// the configuration. Nothing there reads pods, namespaces, service accounts,
// policies, tiers, network sets or host endpoints (host endpoints have no nat
// chains: host-endpoints.ts). If that ever stops being true, the full apply writes
// the difference: stage 1 only comes early, it is never the last word.
//
// Stage 1 touches no other table, no routes or sysctls, and deletes nothing (no chain,
// no IP set); nothing reports in sync or ready before the full apply. A stage-1 failure is
// logged and forgotten: the full apply does the whole job, as without stage 1.
// In nftables mode the nat tables (`calico-nat`, `-1` … `-7`) not there are each loaded whole,
// their sets in them, and the full apply's syncers keep their views (no read-back: seconds at
// `large`), writing only the difference there and the `calico` table (NftTableSyncer.loadNatFirst).
// Proxy modes ipvs and off keep the single stage: there the nat part is small or not ours to split.

import type { CalcGraph, GraphConfig } from "../calc-graph/calc-graph.js";
import type { DesiredState } from "../calc-graph/desired-state.js";
import type { Kind, ResourceUpdate } from "../model/resource.js";
import type { Dataplane } from "./dataplane.js";
import { isAheadDone, isPartial } from "./datastore/batch.js";

/** The kinds the nat table depends on (see above). */
export const NAT_KINDS: ReadonlySet<Kind> = new Set<Kind>([
  "Service",
  "EndpointSlice",
  "Node",
  "IPPool",
  "BlockAffinity",
  "FelixConfiguration",
]);

/** Whether a cold start goes in two stages: proxy mode iptables, or nftables (its dataplane's). */
export function natFirstFits(
  graph: Pick<GraphConfig, "proxyMode">,
  dataplane: { readonly nftables: boolean },
): boolean {
  return graph.proxyMode === "iptables" || (graph.proxyMode === "nftables" && dataplane.nftables);
}

/** The kinds the file datastore parses first (its `ahead`): the nat kinds where stage 1 may run. */
export function natKindsAhead(graph: Pick<GraphConfig, "proxyMode">): ReadonlySet<Kind> | undefined {
  return graph.proxyMode === "iptables" ? NAT_KINDS : undefined;
}

/** Whether stage 1 may start once `part` is taken: it completes the first batch, or the files of nat kinds are in. */
function natFirstAfter(part: readonly ResourceUpdate[]): boolean {
  return !isPartial(part) || isAheadDone(part);
}

/** Stage 1 as begun: the dataplane's write (undefined: it took none), when it began, its snapshot's time. */
export interface Stage1 {
  readonly write: ReturnType<Dataplane["natFirst"]>;
  readonly t0: number;
  readonly snapshotMs: number;
}

/** The graph side of stage 1: the first batch's nat kinds ingested first, the others held. */
export class NatFirstBatch {
  /** Parts of the other kinds, in arrival order, until release(). */
  private held: (readonly ResourceUpdate[])[] = [];
  private released = false;
  /** Stage 1, once begun. */
  stage1: Stage1 | undefined;

  constructor(private readonly graph: CalcGraph) {}

  /**
   * take(), then stage 1 if this part lets it begin (it completes the first batch, or the files of
   * nat kinds are in) and it has not: the nat kinds' snapshot goes to the dataplane. Returns stage 1
   * when it began with this part.
   */
  takeAndStage(part: readonly ResourceUpdate[], dataplane: Pick<Dataplane, "natFirst">): Stage1 | undefined {
    this.take(part);
    if (this.stage1 || !natFirstAfter(part)) return undefined;
    const t0 = performance.now();
    const state = this.snapshot();
    const snapshotMs = performance.now() - t0;
    this.stage1 = { write: dataplane.natFirst(state), t0, snapshotMs };
    return this.stage1;
  }

  /** A part of the first batch (or the last): its nat kinds into the graph now, the others held. */
  private take(part: readonly ResourceUpdate[]): void {
    const now: ResourceUpdate[] = [];
    const later: ResourceUpdate[] = [];
    for (const u of part) (NAT_KINDS.has(u.kind) ? now : later).push(u);
    this.graph.ingest(now);
    this.hold(later);
  }

  /** Holds updates of the other kinds until release(); none may come after it. */
  private hold(updates: readonly ResourceUpdate[]): void {
    if (this.released) throw new Error("NatFirstBatch: updates after release");
    if (updates.length > 0) this.held.push(updates);
  }

  /** The snapshot of what the graph holds so far: the nat kinds' (stage 1). */
  private snapshot(): DesiredState {
    return this.graph.apply([]);
  }

  /** Ingests the held updates in their order, letting go of each part as it goes; the full snapshot. */
  release(): DesiredState {
    this.released = true;
    for (let part = this.held.shift(); part; part = this.held.shift()) this.graph.ingest(part);
    return this.graph.apply([]);
  }
}
