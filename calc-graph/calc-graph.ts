// The calculation graph, wired in one place. Pure: no I/O, no clocks. Each
// batch of resource updates yields one DesiredState snapshot.
//
//  ResourceUpdate[] ──► ResourceConverter (dispatch by kind, k8s → Calico model)
//                         │ endpoints$ ─────┬──────────────────────────────┐
//                         │                 │ (local ones)                 │ (all)
//                         │ profiles$ ──────┼──────────────┐               │
//                         │ policies$ ──┐   ▼              ▼               ▼
//                         │           ActiveRulesCalculator ──refs──► IpSetIndex
//                         │           (local LabelIndex:               (LabelIndex over
//                         │            policy ↔ endpoint,               every endpoint:
//                         │            ordered policies)                set members)
//                         │ nodes$ ─────────┐   │ dirty                  │ dirty
//                         │ problems$ ──────┤   ▼                        ▼
//                         └───────────────► StateBuilder ── flush() ──► DesiredState
//
// Invariants (see also calc-graph/README.md):
//   - output depends only on the current inputs, never on their order or history
//     (no hysteresis), except that an invalid update of a valid policy keeps
//     the valid version in force;
//   - every index adds and removes under identical keys;
//   - anything missing fails closed (unknown profile → DROP, unknown interface → DROP);
//   - a flush renders only what the batch made dirty.

import { map, type Observable, type OperatorFunction } from "rxjs";
import type { ResourceUpdate } from "../src/model/resource.js";
import { ActiveRulesCalculator } from "./active-rules.js";
import { ResourceConverter } from "./converter.js";
import type { DesiredState } from "./desired-state.js";
import { IpSetIndex } from "./ipsets/ipset-index.js";
import type { FelixNetworkConfig } from "./network/model.js";
import type { NetworkIndex } from "./network/network-index.js";
import type { EndpointToHostAction } from "./rules/static.js";
import { StateBuilder } from "./state-builder.js";

export interface GraphConfig {
  readonly nodeName: string;
  /** FELIX_INTERFACEPREFIX; default `cali`. */
  readonly interfacePrefix?: string;
  /** FELIX_DEFAULTENDPOINTTOHOSTACTION; default ACCEPT, as Calico's manifests set it. */
  readonly endpointToHostAction?: EndpointToHostAction;
  /** rp_filter for workload interfaces; default "1" (strict). */
  readonly rpFilter?: string;
  /** FELIX_VXLANVNI, FELIX_VXLANMTU, …: they win over FelixConfiguration resources. */
  readonly networkEnv?: FelixNetworkConfig;
}

export class CalcGraph {
  readonly converter: ResourceConverter;
  readonly ipsets = new IpSetIndex();
  readonly active = new ActiveRulesCalculator(this.ipsets);
  readonly builder: StateBuilder;

  constructor(cfg: GraphConfig) {
    const interfacePrefix = cfg.interfacePrefix ?? "cali";
    this.converter = new ResourceConverter({ interfacePrefix });
    this.builder = new StateBuilder(
      {
        nodeName: cfg.nodeName,
        interfacePrefix,
        endpointToHostAction: cfg.endpointToHostAction ?? "ACCEPT",
        rpFilter: cfg.rpFilter ?? "1",
        networkEnv: cfg.networkEnv,
      },
      this.active,
      this.ipsets,
    );

    const localKeys = new Set<string>();
    this.converter.endpoints$.subscribe(({ key, ep }) => {
      // IP sets first: a policy activated by this endpoint must find the
      // endpoint's own IPs already indexed.
      this.ipsets.updateEndpoint(key, ep);
      const local = ep !== null && ep.node === cfg.nodeName;
      if (local) {
        localKeys.add(key);
        this.active.updateEndpoint(key, ep);
      } else if (localKeys.delete(key)) {
        this.active.updateEndpoint(key, null);
      }
    });
    this.converter.profiles$.subscribe(({ id, profile }) => {
      this.ipsets.updateParent(id, profile?.labels ?? null);
      this.active.updateProfile(id, profile);
    });
    this.converter.policies$.subscribe(({ key, policy }) => this.active.updatePolicy(key, policy));
    this.converter.nodes$.subscribe(({ name, node }) => this.builder.updateNode(name, node));
    this.converter.problems$.subscribe(({ key, problem }) => this.builder.updateProblem(key, problem));
    this.converter.network$.subscribe((u) => this.builder.network.update(u));
    this.converter.start();
  }

  /** Applies one batch and returns the resulting snapshot. */
  apply(batch: readonly ResourceUpdate[]): DesiredState {
    for (const u of batch) this.converter.apply(u);
    return this.builder.flush();
  }

  get current(): DesiredState {
    return this.builder.current;
  }

  /** Pools and routing: e.g. `network.clusterPodCidrs(4)` (pool CIDRs, else nodes' pod CIDRs). */
  get network(): NetworkIndex {
    return this.builder.network;
  }
}

/** The graph as an rxjs operator: batches of updates in, snapshots out. */
export function calcGraph(cfg: GraphConfig): OperatorFunction<readonly ResourceUpdate[], DesiredState> {
  return (batches: Observable<readonly ResourceUpdate[]>) => {
    const graph = new CalcGraph(cfg);
    return batches.pipe(map((batch) => graph.apply(batch)));
  };
}

/** Runs the graph over one batch: what `felix-dump` and the golden tests use. */
export function computeDesiredState(cfg: GraphConfig, updates: readonly ResourceUpdate[]): DesiredState {
  return new CalcGraph(cfg).apply(updates);
}
