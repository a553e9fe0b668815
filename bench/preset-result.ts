// What the bench runner measures per preset, as written by --json and read back
// by --compare (the paths of its fields are the keys of the deltas).

import type { ProxyMode } from "../calc-graph/services/model.js";
import type { IptablesMode } from "../iptables/backend.js";
import type { Kind } from "../model/resource.js";
import type { AgentFigures } from "./agent.js";
import type { FloorResult, KernelKindResult, OursResult } from "./kernel-protocol.js";
import type { Dist, KindResult, Mem, StateSize } from "./measure.js";
import type { ChangeKind } from "./scale.js";
import type { PresetName, ScaleSpec } from "./scale-spec.js";

export interface KernelCold {
  readonly backend: IptablesMode | "nftables";
  readonly ipv6: boolean;
  readonly links: number;
  readonly ours: OursResult["cold"];
  readonly floor: FloorResult;
  /** (graph + dataplane.apply) / floor, dataplane.apply / floor, and restoreMs / floor. */
  readonly totalOverFloor: number;
  readonly applyOverFloor: number;
  readonly restoreOverFloor: number;
}

export interface PresetResult {
  agent?:
    | {
        figures: AgentFigures;
        floorMs?: number;
        /** Each cold floor run; floorMs is their median. */
        floorRunsMs?: number[];
        /** nftables: the median of the runs' per-table floors (FloorResult.perTableMs). */
        floorPerTableMs?: number;
        backend: string;
        tableChangeMs?: Record<string, number>;
      }
    | { skipped: string };
  readonly preset: PresetName;
  readonly seed: number;
  readonly proxyMode?: ProxyMode;
  readonly heapGrowthPercent?: number;
  readonly spec: ScaleSpec;
  readonly inputs: { updates: number; byKind: Partial<Record<Kind, number>>; generateMs: number };
  cold?: {
    graphMs: number;
    breakdown?: { convertIndexMs: number; flushMs: number };
    state: StateSize;
    evaluations: number;
    chainsRendered: number;
    kernel?: KernelCold | { skipped: string };
  };
  incremental?: {
    samples: number;
    warmup: number;
    kinds: Partial<Record<ChangeKind, KindResult & { kernel?: KernelKindResult }>>;
  };
  memory?: {
    inputs: Mem;
    afterColdStart: Mem;
    afterChanges?: Mem;
    changes?: number;
    /** Heap held by the graph: after cold start, after the changes, and a fresh graph of that final state. */
    graphHeapMB: { afterColdStart: number; afterChanges?: number; freshOfFinalState?: number };
  };
  throughput?: {
    changes: number;
    batch: number;
    updates: number;
    seconds: number;
    updatesPerSec: number;
    batchMs: Dist;
  };
}

export interface BenchJson {
  readonly tool: "felix-ts bench";
  readonly version: 1;
  readonly date: string;
  readonly node: string;
  readonly cpu: string;
  readonly presets: Partial<Record<PresetName, PresetResult>>;
}
