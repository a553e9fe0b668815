// What `felix-dump` prints: text and JSON views of one DesiredState.

import { type DesiredState, familyKey } from "../../calc-graph/desired-state.js";
import { renderIpSets } from "../../iptables/ipset.js";
import { renderTables } from "../../iptables/render.js";
import { ipSetList } from "../../model/ipset-shards.js";
import { routeText } from "../../routes/route.js";
import { networkRoutesJson, networkRoutesText } from "./network.js";

export type Family = 4 | 6;

const byKey = <T>(rec: Readonly<Record<string, T>>): [string, T][] =>
  Object.entries(rec).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

export function iptablesText(s: DesiredState, v: Family): string {
  return renderTables(s.iptables[familyKey(v)]);
}

export function iptablesJson(s: DesiredState, v: Family): unknown {
  return s.iptables[familyKey(v)];
}

export function ipsetsText(s: DesiredState, v: Family): string {
  return renderIpSets(ipSetList(s.ipsets).filter((x) => x.family === v));
}

export function ipsetsJson(s: DesiredState, v: Family): unknown {
  return ipSetList(s.ipsets)
    .filter((x) => x.family === v)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((x) => ({ ...x, members: [...x.members].sort() }));
}

/** Like `calicoctl get workloadendpoints`: local endpoints of this node. */
export function endpointsText(s: DesiredState): string {
  const rows = [["WORKLOAD", "NODE", "NETWORKS", "INTERFACE"]];
  for (const [, e] of byKey(s.endpoints)) {
    rows.push([e.key, e.node, [...e.ipv4Nets, ...e.ipv6Nets].join(","), e.iface]);
  }
  const heps = hostEndpointsText(s);
  return heps ? `${table(rows)}\n${heps}` : table(rows);
}

/** Like `calicoctl get hostendpoints`, for this node's host endpoints in force ("" when none). */
function hostEndpointsText(s: DesiredState): string {
  const heps = byKey(s.hostEndpoints ?? {});
  if (heps.length === 0) return "";
  const rows = [["HOSTENDPOINT", "NODE", "INTERFACE", "EXPECTED-IPS", "PROFILES", "POLICIES"]];
  const list = (l: readonly string[]) => (l.length > 0 ? l.join(",") : "-");
  for (const [, h] of heps) {
    const policies = [
      ...h.ingressPolicies.map((p) => `in:${p}`),
      ...h.egressPolicies.map((p) => `out:${p}`),
      ...h.forwardIngressPolicies.map((p) => `forward-in:${p}`),
      ...h.forwardEgressPolicies.map((p) => `forward-out:${p}`),
      ...h.preDNATPolicies.map((p) => `preDNAT:${p}`),
      ...h.untrackedPolicies.map((p) => `doNotTrack:${p}`),
    ];
    rows.push([h.name, h.node, h.iface, list(h.expectedIPs), list(h.profiles), list(policies)]);
  }
  return table(rows);
}

/** With --live: the running agent's endpoint status (from its status file) beside each endpoint. */
export function endpointsLiveText(
  s: DesiredState,
  live: Readonly<Record<string, { status: string; reason: string }>>,
): string {
  const rows = [["WORKLOAD", "NODE", "NETWORKS", "INTERFACE", "STATUS", "REASON"]];
  const keys = new Set([...Object.keys(s.endpoints), ...Object.keys(live)]);
  for (const key of [...keys].sort()) {
    const e = s.endpoints[key];
    const l = live[key];
    rows.push([
      key,
      e?.node ?? s.nodeName,
      e ? [...e.ipv4Nets, ...e.ipv6Nets].join(",") : "",
      e?.iface ?? "",
      l?.status ?? "unknown",
      l?.reason ?? "not in the agent's status file",
    ]);
  }
  return table(rows);
}

/** Workload endpoints, then host endpoints (`kind: "HostEndpoint"`). */
export function endpointsJson(s: DesiredState): unknown {
  const heps = byKey(s.hostEndpoints ?? {}).map(([, h]) => ({ kind: "HostEndpoint", ...h }));
  return [...byKey(s.endpoints).map(([, e]) => e), ...heps];
}

export function routesText(s: DesiredState): string {
  return (
    byKey(s.routes)
      .map(([, r]) => `${routeText(r)}\n`)
      .join("") + networkRoutesText(s)
  );
}

export function routesJson(s: DesiredState): unknown {
  const routes = byKey(s.routes).map(([, r]) => r);
  const extra = networkRoutesJson(s);
  return extra ? { routes, ...extra } : routes;
}

/** `sysctl` style: dotted names, `name = value`. */
export function sysctlsText(s: DesiredState): string {
  return byKey(s.sysctls)
    .map(([k, v]) => `${k.replace(/\//g, ".")} = ${v}\n`)
    .join("");
}

export function sysctlsJson(s: DesiredState): unknown {
  return Object.fromEntries(byKey(s.sysctls));
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => `${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("   ")}\n`).join("");
}
