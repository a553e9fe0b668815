// What the benchmark runner and its kernel child (bench/kernel-child.ts, run
// inside a fresh network namespace with `ip netns exec`) exchange: the job as
// one JSON argument, the result as the last `RESULT {json}` line on stdout.

import type { ProxyMode } from "../calc-graph/services/model.js";
import type { IptablesMode } from "../iptables/backend.js";
import type { Dist } from "./measure.js";
import type { ChangeKind } from "./scale.js";
import type { ScaleSpec } from "./scale-spec.js";

export interface ChildJob {
  /** `ours`: graph + the real dataplane; `floor`: bare restores of the rendered state. */
  readonly mode: "ours" | "floor";
  readonly spec: ScaleSpec;
  readonly seed: number;
  readonly backend: IptablesMode;
  readonly proxyMode: ProxyMode;
  /** The daemon's FELIX_HEAPGROWTHPERCENT. */
  readonly heapGrowthPercent: number;
  /** Incremental samples per kind (ours only; 0 skips the incremental phase). */
  readonly samples: number;
  readonly warmup: number;
  readonly kinds: readonly ChangeKind[];
  /** Floor only: whether ours programmed IPv6 too (so the floor does the same). */
  readonly ipv6?: boolean;
  /** The policy dataplane (default iptables); nftables: our nft tables, and the floor is one `nft -f` per family. */
  readonly dataplane?: "iptables" | "nftables";
  /** Floor only: false skips the per-table change probes (a repeat of the cold floor alone). */
  readonly tableProbes?: boolean;
}

/** Milliseconds per dataplane step, as the driver runs them. */
/** Bytes written to iptables-restore per family. */
export interface FamilyBytes {
  v4: number;
  v6: number;
}

export interface StepTimes {
  ipsetsAddOrUpdate: number;
  iptablesV4: number;
  iptablesV6: number;
  ipsetsRemoveStale: number;
  routes: number;
  sysctls: number;
}

export interface ColdKernel {
  /** Generating the synthetic cluster inside the child (not part of the figures). */
  readonly generateMs: number;
  readonly graphMs: number;
  /** `dataplane.apply` of the full state into an empty namespace. */
  readonly applyMs: number;
  /** graph + apply: start to the kernel programmed. */
  readonly totalMs: number;
  /** Time inside iptables-restore and ipset restore (ApplyResult.restoreMs). */
  readonly restoreMs: number;
  readonly iptablesBytes: number;
  readonly ipsetBytes: number;
  readonly changes: number;
  readonly warnings: number;
  readonly steps: StepTimes;
}

export interface KernelKindResult {
  readonly samples: number;
  readonly graphMs: Dist;
  readonly applyMs: Dist;
  /** graph.apply + dataplane.apply. */
  readonly totalMs: Dist;
  readonly restoreMs: Dist;
  /** totalMs less the time inside the restore processes: what the latency target counts. */
  readonly oursMs?: Dist;
  readonly iptablesBytes: Dist;
  /** Per family: each family is its own iptables-restore. */
  readonly iptablesBytesV4?: Dist;
  readonly iptablesBytesV6?: Dist;
  readonly ipsetBytes: Dist;
  /** nftables mode: sampled changes written with nft -f because the netlink writer could not express them. */
  readonly nftFallbacks?: number;
  /** Mean time per dataplane step over the samples. */
  readonly steps: StepTimes;
}

export interface OursResult {
  readonly mode: "ours";
  readonly ipv6: boolean;
  /** The iptables backend, or `nftables` in nftables mode. */
  readonly backend: IptablesMode | "nftables";
  /** `cali…` veths made for the local pods (routes and sysctls need them). */
  readonly links: number;
  readonly cold: ColdKernel;
  readonly incremental: Partial<Record<ChangeKind, KernelKindResult>>;
}

export interface FloorResult {
  readonly mode: "floor";
  readonly ipsetMs: number;
  readonly iptablesV4Ms: number;
  readonly iptablesV6Ms: number;
  readonly totalMs: number;
  readonly ipsetBytes: number;
  readonly iptablesBytes: number;
  /**
   * The kernel's own cost of the smallest change to each IPv4 table once the
   * state is loaded (one chain added, then removed, median of 5): what any
   * agent pays per change to that table (legacy iptables replaces a table whole).
   */
  readonly tableChangeMs?: Record<string, number>;
  /**
   * nftables: the same tables each in its own bare `nft -f`, at most COLD_LOADS at once (both
   * families), the nat tables first: what the agent's per-table cold start is up against.
   */
  readonly perTableMs?: number;
}

export type ChildResult = OursResult | FloorResult;
