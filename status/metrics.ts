// Prometheus metrics, named as Felix names them where Felix has them
// (felix_routes_* , felix_dataplane_* and felix_resource_problems are ours).
// The daemon feeds most of them through observeState() after each graph
// update and observeApply() after each successful apply.

import type { DesiredState } from "../calc-graph/desired-state.js";
import { ipSetCount } from "../model/ipset-shards.js";
import type { ApplyResult } from "../src/dataplane.js";
import { Counter, Gauge, Histogram, Registry } from "./prom.js";

export class Metrics {
  readonly registry = new Registry();
  readonly restoreCalls = new Counter({
    name: "felix_iptables_restore_calls",
    help: "Number of iptables-restore calls.",
    registers: [this.registry],
  });
  readonly restoreErrors = new Counter({
    name: "felix_iptables_restore_errors",
    help: "Number of iptables-restore errors (each is retried after a full resync).",
    registers: [this.registry],
  });
  readonly nftNetlinkFallbacks = new Counter({
    name: "felix_nft_netlink_fallbacks",
    help: "nftables changes written with nft -f because the netlink writer could not express them.",
    registers: [this.registry],
  });
  readonly applyTime = new Histogram({
    name: "felix_int_dataplane_apply_time_seconds",
    help: "Time to apply one DesiredState to the kernel.",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly applyFailures = new Counter({
    name: "felix_int_dataplane_failures",
    help: "Number of failed dataplane applies.",
    registers: [this.registry],
  });
  readonly changes = new Counter({
    name: "felix_dataplane_changes_total",
    help: "Kernel writes made: iptables lines, IP set members and sets, routes, sysctls.",
    registers: [this.registry],
  });
  readonly lastChanges = new Gauge({
    name: "felix_dataplane_last_apply_changes",
    help: "Kernel writes made by the last apply (0 when already in sync).",
    registers: [this.registry],
  });
  readonly activeEndpoints = new Gauge({
    name: "felix_active_local_endpoints",
    help: "Number of active endpoints on this host.",
    registers: [this.registry],
  });
  readonly resourceProblems = new Gauge({
    name: "felix_resource_problems",
    help: "Number of input objects currently rejected as invalid.",
    registers: [this.registry],
  });

  readonly ipsetCalls = new Counter({
    name: "felix_ipset_calls",
    help: "Number of ipset commands executed (ipset save and ipset restore).",
    registers: [this.registry],
  });
  readonly ipsetErrors = new Counter({
    name: "felix_ipset_errors",
    help: "Number of ipset command failures.",
    registers: [this.registry],
  });
  readonly routesAdded = new Counter({
    name: "felix_routes_added",
    help: "Routes added or replaced in the kernel.",
    registers: [this.registry],
  });
  readonly routesRemoved = new Counter({
    name: "felix_routes_removed",
    help: "Routes removed from the kernel.",
    registers: [this.registry],
  });
  readonly resyncsStarted = new Counter({
    name: "felix_resyncs_started",
    help: "Number of times felix-ts has started resyncing with the datastore (first list and every re-list).",
    registers: [this.registry],
  });
  readonly activeLocalPolicies = new Gauge({
    name: "felix_active_local_policies",
    help: "Number of policies that apply to at least one endpoint on this host.",
    registers: [this.registry],
  });
  readonly ipsetsCalico = new Gauge({
    name: "felix_ipsets_calico",
    help: "Number of Calico IP sets the dataplane should hold (both families).",
    registers: [this.registry],
  });
  readonly ipsetsOverfull = new Gauge({
    name: "felix_ipsets_overfull",
    help: "IP sets (per family) over FELIX_MAXIPSETSIZE: not programmed, their rules fail closed.",
    registers: [this.registry],
  });
  readonly calcGraphUpdateTime = new Histogram({
    name: "felix_calc_graph_update_time_seconds",
    help: "Time to run one batch of datastore updates through the calculation graph.",
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly networkProgrammingDuration = new Histogram({
    name: "felix_network_programming_duration_seconds",
    help: "Time from a datastore change being seen to the kernel being programmed with it.",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });

  /** The parts of the state the gauges were last derived from. */
  private observed: Partial<Pick<DesiredState, "endpoints" | "ipsets" | "problems">> = {};

  /**
   * After a calc-graph update: the gauges derived from the new state, and its duration when given.
   * A part that kept its identity keeps its gauges (no pass over every endpoint, set and problem per batch).
   */
  observeState(state: DesiredState, seconds?: number): void {
    if (seconds !== undefined) this.calcGraphUpdateTime.observe(seconds);
    if (state.endpoints !== this.observed.endpoints) {
      const endpoints = Object.values(state.endpoints);
      const policies = new Set<string>();
      for (const ep of endpoints) {
        for (const p of ep.ingressPolicies) policies.add(p);
        for (const p of ep.egressPolicies) policies.add(p);
      }
      this.activeEndpoints.set(endpoints.length);
      this.activeLocalPolicies.set(policies.size);
    }
    if (state.ipsets !== this.observed.ipsets) this.ipsetsCalico.set(ipSetCount(state.ipsets));
    if (state.problems !== this.observed.problems) {
      const problems = Object.keys(state.problems);
      this.resourceProblems.set(problems.length);
      this.ipsetsOverfull.set(problems.filter((k) => k.startsWith("IPSet//")).length);
    }
    this.observed = { endpoints: state.endpoints, ipsets: state.ipsets, problems: state.problems };
  }

  /** After a successful apply that took `seconds`. */
  observeApply(result: ApplyResult, seconds: number): void {
    this.applyTime.observe(seconds);
    this.changes.inc(result.changes);
    this.lastChanges.set(result.changes);
    this.routesAdded.inc(result.routes.added);
    this.routesRemoved.inc(result.routes.removed);
  }
}
