// What a policy change would do to reachability: every pod pair on every
// port the changed policies name (or the ports asked for), traced before and
// after the change; the pairs whose verdict changes, with what decides them.

import type { WorkloadEndpoint } from "../calc-graph/model.js";
import { type ClusterTracer, type TracedStep, whyText } from "./cluster-trace.js";
import type { TraceProtocol } from "./packet.js";

export interface PortSpec {
  readonly port: number;
  readonly protocol: TraceProtocol;
}

export interface ReachabilityChange {
  readonly client: string;
  readonly server: string;
  readonly port: number;
  readonly protocol: TraceProtocol;
  readonly before: "allow" | "deny";
  readonly after: "allow" | "deny";
  /** The rule that denies, on the denied side of the change. */
  readonly deniedBy?: TracedStep;
}

export interface WhatIfReport {
  readonly ports: readonly PortSpec[];
  readonly pairs: number;
  readonly changes: readonly ReachabilityChange[];
}

const firstIp = (ep: WorkloadEndpoint) => (ep.ipv4Nets[0] ?? ep.ipv6Nets[0])?.split("/")[0];

export function whatIf(
  before: ClusterTracer,
  after: ClusterTracer,
  pods: readonly WorkloadEndpoint[],
  ports: readonly PortSpec[],
): WhatIfReport {
  const eps = [...pods].filter((p) => firstIp(p) !== undefined).sort((a, b) => (a.key < b.key ? -1 : 1));
  const changes: ReachabilityChange[] = [];
  let pairs = 0;
  for (const port of ports)
    for (const cl of eps)
      for (const sv of eps) {
        if (cl === sv) continue;
        const src = firstIp(cl)!;
        const dst = firstIp(sv)!;
        if (src.includes(":") !== dst.includes(":")) continue;
        pairs++;
        const pkt = { src, dst, sport: 40000, dport: port.port, protocol: port.protocol };
        const b = before.trace(pkt);
        const a = after.trace(pkt);
        if (a.verdict === b.verdict) continue;
        const deniedBy = (a.verdict === "deny" ? a : b).deniedBy;
        changes.push({
          client: cl.key,
          server: sv.key,
          ...port,
          before: b.verdict,
          after: a.verdict,
          ...(deniedBy ? { deniedBy } : {}),
        });
      }
  return { ports, pairs, changes };
}

// biome-ignore lint/suspicious/noExplicitAny: policy manifests of any kind
type Obj = Record<string, any>;

/**
 * The ports a policy manifest names, Kubernetes' (`ports: [{port, protocol}]`) and Calico's
 * (`protocol` with `destination.ports`); named ports resolve through the pods' container ports.
 */
export function portsNamedIn(policies: readonly Obj[], pods: readonly WorkloadEndpoint[]): PortSpec[] {
  const out = new Map<string, PortSpec>();
  const add = (port: unknown, protocol: unknown) => {
    const proto = String(protocol ?? "TCP").toLowerCase();
    if (proto !== "tcp" && proto !== "udp" && proto !== "sctp") return;
    if (typeof port === "number" && Number.isInteger(port) && port > 0 && port <= 65535) {
      out.set(`${proto}/${port}`, { port, protocol: proto });
    } else if (typeof port === "string" && /^\d+(:\d+)?$/.test(port)) {
      add(Number(port.split(":")[0]), proto);
    } else if (typeof port === "string") {
      for (const ep of pods)
        for (const np of ep.ports) if (np.name === port && np.protocol === proto) add(np.port, proto);
    }
  };
  for (const p of policies) {
    const spec = (p?.spec ?? {}) as Obj;
    for (const dir of ["ingress", "egress"]) {
      for (const r of Array.isArray(spec[dir]) ? (spec[dir] as Obj[]) : []) {
        for (const k of Array.isArray(r?.ports) ? (r.ports as Obj[]) : []) add(k?.port, k?.protocol);
        for (const port of Array.isArray(r?.destination?.ports) ? r.destination.ports : []) add(port, r?.protocol);
      }
    }
  }
  return [...out.values()].sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port);
}

export function whatIfText(r: WhatIfReport): string {
  const ports = r.ports.map((p) => `${p.protocol}/${p.port}`).join(", ");
  const out = [`${r.pairs} pod pairs × port traced before and after (${ports}): ${r.changes.length} change(s)`];
  for (const c of r.changes) {
    const d = c.deniedBy;
    const why = d
      ? `  (${c.after === "deny" ? "now" : "was"} denied at ${d.node} ${d.chain}#${d.rule}: ${whyText(d.origin)})`
      : "";
    out.push(`  ${c.client} → ${c.server} ${c.protocol}/${c.port}: ${c.before} → ${c.after}${why}`);
  }
  return `${out.join("\n")}\n`;
}
