// `felix-dump services`: each service port as the engine sees it, frontends
// (where traffic enters) → endpoints (with conditions, which receive traffic
// and why or why not).

import type { DesiredState } from "../../calc-graph/desired-state.js";
import { categorizeEndpoints } from "../../calc-graph/services/categorize.js";
import type { ServiceEndpoint, ServicePort } from "../../calc-graph/services/model.js";
import { servicePortId } from "../../calc-graph/services/model.js";
import { endpointString, servicePortName } from "../../calc-graph/services/names.js";
import { servicePortIds, servicePortOf } from "../../calc-graph/services/port-shards.js";

export interface Frontend {
  readonly kind: "cluster IP" | "node port" | "external IP" | "load balancer IP";
  readonly address: string;
  readonly port: number;
  readonly note?: string;
}

export interface EndpointView extends ServiceEndpoint {
  /** Which traffic it receives: "cluster" (to the cluster IP) and/or "external". */
  readonly usedFor: readonly string[];
  /** Why it receives none (or less), when so. */
  readonly why: string;
}

export interface ServiceView {
  readonly id: string;
  readonly name: string;
  readonly protocol: string;
  readonly family: 4 | 6;
  readonly frontends: readonly Frontend[];
  readonly endpoints: readonly EndpointView[];
  readonly settings: readonly string[];
  /** What traffic without an endpoint meets. */
  readonly verdicts: readonly string[];
}

const hostPort = (ip: string, port: number) => (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`);

export function serviceViews(s: DesiredState, nodeAddresses: readonly string[]): ServiceView[] {
  return servicePortIds(s.services)
    .sort()
    .map((id) => serviceView(servicePortOf(s.services, id)!, nodeAddresses));
}

function serviceView(sp: ServicePort, nodeAddresses: readonly string[]): ServiceView {
  const cat = categorizeEndpoints(sp);
  const frontends: Frontend[] = [{ kind: "cluster IP", address: sp.clusterIP, port: sp.port }];
  if (sp.nodePort !== undefined) {
    const routable = nodeAddresses.filter((a) => a !== "127.0.0.1" && a !== "::1");
    for (const ip of routable.filter((a) => a.includes(":") === (sp.family === 6))) {
      frontends.push({ kind: "node port", address: ip, port: sp.nodePort });
    }
  }
  for (const ip of sp.externalIPs) frontends.push({ kind: "external IP", address: ip, port: sp.port });
  for (const ip of sp.loadBalancerIPs) {
    const note = sp.loadBalancerSourceRanges.length ? `from ${sp.loadBalancerSourceRanges.join(", ")} only` : undefined;
    frontends.push({ kind: "load balancer IP", address: ip, port: sp.port, ...(note ? { note } : {}) });
  }
  const anyReady = sp.endpoints.some((e) => e.ready);
  const anyLocalReady = sp.endpoints.some((e) => e.ready && e.local);
  const endpoints = sp.endpoints.map((e): EndpointView => {
    const usedFor: string[] = [];
    if (cat.cluster.includes(e)) usedFor.push("cluster");
    if (cat.external.includes(e) && (sp.nodePort !== undefined || sp.externalIPs.length || sp.loadBalancerIPs.length)) {
      usedFor.push("external");
    }
    let why = "ready";
    if (!e.ready && !(e.serving && e.terminating)) why = e.terminating ? "terminating and not serving" : "not ready";
    else if (!e.ready) {
      const readyPeers = e.local ? anyLocalReady : anyReady;
      why = readyPeers
        ? "terminating: ready endpoints exist"
        : "terminating, still serving: used as no endpoint is ready";
    } else if (e.topologyExcluded) {
      const hints = [
        e.nodeHints?.length ? `node ${e.nodeHints.join(", ")}` : "",
        e.zoneHints?.length ? `zone ${e.zoneHints.join(", ")}` : "",
      ].filter(Boolean);
      why = `topology: hinted for ${hints.join("; ")}, not for this node; cluster traffic stays near`;
    } else if (!e.local && (sp.internalPolicyLocal || sp.externalPolicyLocal)) {
      why = `on ${e.nodeName ?? "another node"}: ${[
        sp.internalPolicyLocal ? "internalTrafficPolicy Local" : "",
        sp.externalPolicyLocal ? "externalTrafficPolicy Local" : "",
      ]
        .filter(Boolean)
        .join(", ")} keeps it from that traffic`;
    }
    return { ...e, usedFor, why };
  });
  const settings: string[] = [];
  if (sp.affinityTimeoutSeconds !== undefined) settings.push(`sessionAffinity ClientIP ${sp.affinityTimeoutSeconds}s`);
  if (sp.internalPolicyLocal) settings.push("internalTrafficPolicy Local");
  if (sp.externalPolicyLocal) settings.push("externalTrafficPolicy Local");
  if (sp.healthCheckNodePort !== undefined) settings.push(`healthCheckNodePort ${sp.healthCheckNodePort}`);
  if (sp.trafficDistribution) settings.push(`trafficDistribution ${sp.trafficDistribution}`);
  const verdicts: string[] = [];
  if (cat.all.length === 0 && !sp.endpoints.some((e) => e.ready || (e.serving && e.terminating))) {
    verdicts.push("no usable endpoint: connections are rejected");
  } else {
    if (cat.cluster.length === 0) verdicts.push("no local endpoint: cluster IP traffic is dropped");
    if (sp.externalPolicyLocal && cat.local.length === 0) {
      verdicts.push("no local endpoint: external traffic from outside the cluster is dropped");
    }
  }
  return {
    id: servicePortId(sp),
    name: servicePortName(sp),
    protocol: sp.protocol,
    family: sp.family,
    frontends,
    endpoints,
    settings,
    verdicts,
  };
}

export function servicesText(views: readonly ServiceView[]): string {
  const out: string[] = [];
  for (const v of views) {
    out.push(`${v.name} ${v.protocol} IPv${v.family}${v.settings.length ? `  (${v.settings.join(", ")})` : ""}`);
    out.push("  frontends:");
    for (const f of v.frontends) {
      out.push(`    ${hostPort(f.address, f.port).padEnd(24)} ${f.kind}${f.note ? ` (${f.note})` : ""}`);
    }
    out.push("  endpoints:");
    if (v.endpoints.length === 0) out.push("    (none)");
    for (const e of v.endpoints) {
      const cond = [e.ready ? "ready" : "", e.serving ? "serving" : "", e.terminating ? "terminating" : ""]
        .filter(Boolean)
        .join(",");
      const where = `${e.nodeName ?? "?"}${e.local ? " (local)" : ""}`;
      const used = e.usedFor.length ? `→ ${e.usedFor.join(", ")}` : "→ unused";
      out.push(
        `    ${endpointString(e).padEnd(24)} ${where.padEnd(16)} ${(cond || "-").padEnd(26)} ${used.padEnd(22)} ${e.why}`,
      );
    }
    for (const verdict of v.verdicts) out.push(`  ${verdict}`);
  }
  return out.length ? `${out.join("\n")}\n` : "no services\n";
}
