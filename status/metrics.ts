// Prometheus metrics, named as Felix names them where Felix has them.

import { Counter, Gauge, Histogram, Registry } from "prom-client";

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
}
