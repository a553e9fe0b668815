// Per-endpoint status, as Felix's endpoint manager computes it (up / down /
// error), from three inputs the daemon already has:
//
//   setDesired(state)        each DesiredState out of the calculation graph
//   applied(state, outcome)  each dataplane apply: the state it applied and
//                            its ApplyResult, or the Error it failed with
//   setInterfaces(names)     the interfaces present (from the link monitor)
//
// For each local workload of the latest desired state, worst first:
//
//   error  the pod's manifest is rejected (problem `Pod/<ns>/<pod>`), or the
//          last apply failed (the kernel is not known to hold its policy)
//   down   its interface is missing, or no successful apply has included it yet
//   up     a successful apply included its chains and its interface exists
//
// Rejected pods scheduled here appear too (status error), so a CNI plugin
// waiting for the pod learns why. Every change (new, changed status or
// reason, removed) is emitted on `changes`.

import { vethNameForWorkload } from "../calc-graph/conversion/pod.js";
import type { DesiredState } from "../calc-graph/desired-state.js";
import { changedKeys } from "../model/dict.js";
import { type Observable, Subject } from "../model/rx.js";

export type EndpointStatusValue = "up" | "down" | "error";

export interface EndpointStatus {
  /** `<namespace>/<pod>` */
  readonly workload: string;
  readonly iface: string;
  readonly status: EndpointStatusValue;
  /** Why: "programmed", "interface cali123 not present", the error… */
  readonly reason: string;
  /** ISO time the endpoint entered this status (kept when only the reason changes). */
  readonly since: string;
}

export interface EndpointStatusChange {
  readonly workload: string;
  /** Absent for a new endpoint. */
  readonly previous?: EndpointStatus;
  /** Absent when the endpoint is gone. */
  readonly current?: EndpointStatus;
}

export interface EndpointStatusTrackerOptions {
  /** Interface name prefix, for rejected pods that have no endpoint (default `cali`). */
  readonly interfacePrefix?: string;
  readonly now?: () => Date;
}

/** What the statuses are computed from, compared by reference. */
type Inputs = readonly [
  endpoints: DesiredState["endpoints"] | undefined,
  problems: DesiredState["problems"] | undefined,
  nodeName: string | undefined,
  lastError: Error | undefined,
  ifaces: ReadonlySet<string> | undefined,
  programmed: DesiredState["endpoints"] | undefined,
];

export class EndpointStatusTracker {
  private readonly subject = new Subject<EndpointStatusChange>();
  /** Every change, after it is applied to `statuses()`. */
  readonly changes: Observable<EndpointStatusChange> = this.subject.asObservable();
  private readonly current = new Map<string, EndpointStatus>();
  private desired: DesiredState | undefined;
  private lastError: Error | undefined;
  private ifaces: ReadonlySet<string> | undefined;
  private readonly prefix: string;
  private readonly now: () => Date;
  /** The endpoints of the last successfully applied state. */
  private programmed: DesiredState["endpoints"] | undefined;
  /** The inputs of the last compute: equal ones (by reference) give equal statuses, so it is skipped. */
  private computedFrom: Inputs = [undefined, undefined, undefined, undefined, undefined, undefined];

  constructor(o: EndpointStatusTrackerOptions = {}) {
    this.prefix = o.interfacePrefix ?? "cali";
    this.now = o.now ?? (() => new Date());
  }

  /** A new desired state from the calculation graph (not yet programmed). */
  setDesired(state: DesiredState): void {
    this.desired = state;
    this.recompute();
  }

  /** The outcome of applying `state`: an ApplyResult (or anything not an Error) for success. */
  applied(state: DesiredState, outcome: unknown): void {
    if (outcome instanceof Error) {
      this.lastError = outcome;
    } else {
      this.lastError = undefined;
      this.programmed = state.endpoints;
    }
    this.recompute();
  }

  /** The interfaces that exist now (all of them, or only those up: the caller decides). */
  setInterfaces(names: Iterable<string>): void {
    this.ifaces = new Set(names);
    this.recompute();
  }

  /** Current statuses, sorted by workload. */
  statuses(): EndpointStatus[] {
    return [...this.current.values()].sort((a, b) => (a.workload < b.workload ? -1 : a.workload > b.workload ? 1 : 0));
  }

  get(workload: string): EndpointStatus | undefined {
    return this.current.get(workload);
  }

  /** Completes `changes`. */
  close(): void {
    this.subject.complete();
  }

  /** The statuses of every workload, or of `only` (a workload absent from the result has none). */
  private compute(
    only?: ReadonlySet<string>,
  ): Map<string, { iface: string; status: EndpointStatusValue; reason: string }> {
    const out = new Map<string, { iface: string; status: EndpointStatusValue; reason: string }>();
    const s = this.desired;
    if (!s) return out;
    const endpoints = only ? [...only].flatMap((w) => s.endpoints[w] ?? []) : Object.values(s.endpoints);
    for (const ep of endpoints) {
      // A refused address (calc-graph/endpoint-guard.ts) leaves the endpoint up with the others: still an error.
      const problem =
        s.problems[`Pod/${ep.namespace}/${ep.pod}`] ?? s.problems[`Pod/${ep.namespace}/${ep.pod}/addresses`];
      let status: EndpointStatusValue;
      let reason: string;
      if (problem) {
        status = "error";
        reason = `pod manifest: ${problem.message}`;
      } else if (this.lastError) {
        status = "error";
        reason = `dataplane apply failed (retrying): ${this.lastError.message}`;
      } else if (!this.ifaces?.has(ep.iface)) {
        status = "down";
        reason = this.ifaces ? `interface ${ep.iface} not present` : "interfaces not listed yet";
      } else if (!this.programmed || !Object.hasOwn(this.programmed, ep.key)) {
        status = "down";
        reason = "policy not programmed yet";
      } else {
        status = "up";
        reason = "programmed";
      }
      out.set(ep.key, { iface: ep.iface, status, reason });
    }
    // Pods rejected outright have no endpoint; report the ones scheduled here.
    // All of them, also for `only`: a workload's problem may be under a longer key (`…/iface`), and there are few.
    for (const p of Object.values(s.problems)) {
      const w = problemWorkload(p.key);
      if (!w || (only && !only.has(w.key)) || p.node !== s.nodeName || out.has(w.key)) continue;
      out.set(w.key, {
        iface: vethNameForWorkload(w.ns, w.pod, this.prefix),
        status: "error",
        reason: `pod manifest: ${p.message}`,
      });
    }
    return out;
  }

  /**
   * The workloads whose status may differ between two inputs that differ only in the endpoints, the
   * problems or what was programmed (a change at scale touches a few of the node's endpoints): those
   * the changed keys name.
   */
  private touched([endpoints0, problems0, , , , programmed0]: Inputs, [endpoints, problems, , , , programmed]: Inputs) {
    const out = new Set([
      ...changedKeys(endpoints0 ?? {}, endpoints ?? {}),
      ...changedKeys(programmed0 ?? {}, programmed ?? {}),
    ]);
    for (const k of changedKeys(problems0 ?? {}, problems ?? {})) {
      const w = problemWorkload(k);
      if (w) out.add(w.key);
    }
    return out;
  }

  private recompute(): void {
    // A batch or an apply that left these alone (most, at scale) costs no pass over the node's endpoints.
    const from: Inputs = [
      this.desired?.endpoints,
      this.desired?.problems,
      this.desired?.nodeName,
      this.lastError,
      this.ifaces,
      this.programmed,
    ];
    const before = this.computedFrom;
    if (from.every((x, i) => x === before[i])) return;
    this.computedFrom = from;
    // The node, the last error and the interfaces as before: only the workloads the changes name are looked at.
    const only = [2, 3, 4].every((i) => from[i] === before[i]) ? this.touched(before, from) : undefined;
    const next = this.compute(only);
    const since = this.now().toISOString();
    const changes: EndpointStatusChange[] = [];
    for (const [workload, n] of next) {
      const prev = this.current.get(workload);
      if (prev && prev.status === n.status && prev.reason === n.reason && prev.iface === n.iface) continue;
      const cur: EndpointStatus = {
        workload,
        iface: n.iface,
        status: n.status,
        reason: n.reason,
        since: prev && prev.status === n.status ? prev.since : since,
      };
      this.current.set(workload, cur);
      changes.push({ workload, ...(prev ? { previous: prev } : {}), current: cur });
    }
    for (const workload of only ?? [...this.current.keys()]) {
      const prev = this.current.get(workload);
      if (!prev || next.has(workload)) continue;
      this.current.delete(workload);
      changes.push({ workload, previous: prev });
    }
    for (const c of changes) this.subject.next(c);
  }
}

/** The workload a pod's problem key names (`Pod/<ns>/<pod>`, or with a suffix such as `/iface`). */
function problemWorkload(key: string): { key: string; ns: string; pod: string } | undefined {
  const [kind, ns, pod] = key.split("/");
  return kind === "Pod" && pod !== undefined ? { key: `${ns}/${pod}`, ns, pod } : undefined;
}

export { EndpointStatusFile, endpointStatusConfigFromEnv } from "./endpoint-status-file.js";
