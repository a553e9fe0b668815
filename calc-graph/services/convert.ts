// Service and EndpointSlice (discovery.k8s.io/v1) → the parts of the service
// model each contributes, the way kube-proxy reads them (pkg/proxy
// service.go and endpointslicecache.go):
//   - a Service yields one port template per (port, IP family of its
//     clusterIPs); headless (clusterIP None) and ExternalName services yield
//     none; NodePort, LB IPs, source ranges and the health-check node port
//     only count for the types that have them;
//   - an EndpointSlice yields its ports (name, protocol → the target port the
//     controller resolved, named ports included) and its endpoints with the
//     API's condition defaults (ready and serving unset → true, terminating
//     unset → false); it joins its service by the kubernetes.io/service-name
//     label; FQDN slices are ignored.
// Invalid fields throw (the whole object is reported); a single bad port or
// address is skipped and reported through `problems`, and so is an address no
// service may use (loopback, link-local, metadata: forbidden-addresses.ts).

import type { KubeObject } from "../../model/k8s.js";
import { internalized } from "../../model/own-string.js";
import { parseCidr, parseIp } from "../conversion/cidr.js";
import { parseProtocol } from "../conversion/pod.js";
import type { IpVersion } from "../model.js";
import { forbiddenServiceAddress } from "./forbidden-addresses.js";
import type { ServicePort, ServiceProtocol, TrafficDistribution } from "./model.js";
import { servicePortKey } from "./model.js";

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
export const DEFAULT_AFFINITY_TIMEOUT = 10800;

/** A ServicePort without its endpoints: what the Service alone says. */
export type ServicePortTemplate = Omit<ServicePort, "endpoints">;

export interface ConvertedService {
  readonly namespace: string;
  readonly name: string;
  readonly ports: readonly ServicePortTemplate[];
  /** Non-fatal problems: parts skipped. */
  readonly problems: readonly string[];
}

export interface SliceEndpoint {
  readonly ip: string;
  readonly nodeName?: string;
  readonly zone?: string;
  readonly zoneHints?: readonly string[];
  readonly nodeHints?: readonly string[];
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly pod?: string;
}

export interface ConvertedSlice {
  readonly namespace: string;
  readonly name: string;
  /** The service it belongs to (label kubernetes.io/service-name). */
  readonly service: string;
  readonly family: IpVersion;
  readonly ports: readonly { readonly name: string; readonly protocol: ServiceProtocol; readonly port: number }[];
  readonly endpoints: readonly SliceEndpoint[];
  readonly problems: readonly string[];
}

interface RawServicePort {
  name?: string;
  protocol?: string;
  port?: number;
  nodePort?: number;
}

interface RawServiceSpec {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  ports?: RawServicePort[];
  externalIPs?: string[];
  sessionAffinity?: string;
  sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
  externalTrafficPolicy?: string;
  internalTrafficPolicy?: string;
  healthCheckNodePort?: number;
  loadBalancerSourceRanges?: string[];
  trafficDistribution?: string;
}

interface RawService extends KubeObject {
  spec?: RawServiceSpec;
  status?: { loadBalancer?: { ingress?: { ip?: string; ipMode?: string }[] } };
}

function protocolOf(p: unknown, what: string): ServiceProtocol {
  return parseProtocol(p === "" ? undefined : p, what);
}

function portNumber(p: unknown, what: string): number {
  if (typeof p !== "number" || !Number.isInteger(p) || p < 1 || p > 65535) {
    throw new Error(`${what}: invalid port ${JSON.stringify(p)}`);
  }
  return p;
}

function optionalPort(p: unknown, what: string): number | undefined {
  return p === undefined || p === null || p === 0 ? undefined : portNumber(p, what);
}

/** Parses each IP, skipping (and reporting) bad ones. */
function ips(list: unknown, what: string, problems: string[]): { version: IpVersion; text: string }[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new Error(`${what} must be a list`);
  const out: { version: IpVersion; text: string }[] = [];
  for (const x of list) {
    try {
      out.push(parseIp(String(x)));
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message} (skipped)`);
    }
  }
  return out;
}

/** Drops (and reports) addresses no service may claim as a frontend. */
function frontends(
  list: { version: IpVersion; text: string }[],
  what: string,
  service: string,
  problems: string[],
): { version: IpVersion; text: string }[] {
  return list.filter((ip) => {
    const why = forbiddenServiceAddress(ip.text);
    if (why) problems.push(`${what}: ${ip.text} is ${why}, never a frontend of service ${service} (skipped)`);
    return !why;
  });
}

const uniqSorted = (xs: string[]) => [...new Set(xs)].sort();

/** The service's port templates; [] for headless and ExternalName services. */
export function convertService(svc: RawService): ConvertedService {
  const namespace = svc.metadata?.namespace || "default";
  const name = svc.metadata?.name;
  if (!name) throw new Error("Service has no metadata.name");
  const spec = svc.spec ?? {};
  const type = spec.type ?? "ClusterIP";
  if (!["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].includes(type)) {
    throw new Error(`spec.type: unknown service type ${JSON.stringify(type)}`);
  }
  const problems: string[] = [];
  const none = { namespace, name, ports: [], problems };
  if (type === "ExternalName") return none;
  if (spec.clusterIP === "None") return none; // headless: DNS only, nothing to proxy
  const service = `${namespace}/${name}`;
  const clusterIPs = frontends(
    ips(
      spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [],
      "spec.clusterIPs",
      problems,
    ),
    "spec.clusterIPs",
    service,
    problems,
  );
  if (clusterIPs.length === 0) {
    problems.push("spec.clusterIP is not set (not allocated yet): the service is not proxied");
    return { ...none, problems };
  }
  const nodePortType = type === "NodePort" || type === "LoadBalancer";
  const lbType = type === "LoadBalancer";
  const externalIPs = frontends(
    ips(spec.externalIPs, "spec.externalIPs", problems),
    "spec.externalIPs",
    service,
    problems,
  );
  const lbIPs = lbType
    ? frontends(
        ips(
          (svc.status?.loadBalancer?.ingress ?? []).filter((i) => i?.ip && i.ipMode !== "Proxy").map((i) => i.ip),
          "status.loadBalancer.ingress",
          problems,
        ),
        "status.loadBalancer.ingress",
        service,
        problems,
      )
    : [];
  // The spec only, as kube-proxy (the service.beta.kubernetes.io/load-balancer-source-ranges
  // annotation is the cloud provider's). A bad range is left out and reported, as kube-proxy
  // does; when every range is bad the service is refused: an empty list would admit anyone.
  const rangesRaw: unknown[] = lbType ? (spec.loadBalancerSourceRanges ?? []) : [];
  if (!Array.isArray(rangesRaw)) throw new Error("spec.loadBalancerSourceRanges must be a list");
  const ranges: { version: IpVersion; text: string }[] = [];
  for (const r of rangesRaw) {
    try {
      ranges.push(parseCidr(String(r)));
    } catch (e) {
      problems.push(`spec.loadBalancerSourceRanges: ${(e as Error).message} (skipped)`);
    }
  }
  if (rangesRaw.length > 0 && ranges.length === 0) {
    const prefix = "spec.loadBalancerSourceRanges: ";
    const bad = problems.filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length, -" (skipped)".length));
    throw new Error(
      `spec.loadBalancerSourceRanges: no valid range (${bad.join("; ")}): refused rather than open to every source`,
    );
  }
  let affinityTimeoutSeconds: number | undefined;
  if (spec.sessionAffinity === "ClientIP") {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT;
    if (!Number.isInteger(t) || t < 1 || t > 86400) {
      throw new Error(`spec.sessionAffinityConfig.clientIP.timeoutSeconds: must be 1..86400, not ${JSON.stringify(t)}`);
    }
    affinityTimeoutSeconds = t;
  } else if (spec.sessionAffinity !== undefined && spec.sessionAffinity !== "None") {
    throw new Error(`spec.sessionAffinity: must be None or ClientIP, not ${JSON.stringify(spec.sessionAffinity)}`);
  }
  for (const [field, v] of [
    ["externalTrafficPolicy", spec.externalTrafficPolicy],
    ["internalTrafficPolicy", spec.internalTrafficPolicy],
  ] as const) {
    if (v !== undefined && v !== "Cluster" && v !== "Local") {
      throw new Error(`spec.${field}: must be Cluster or Local, not ${JSON.stringify(v)}`);
    }
  }
  // kube-proxy's ExternallyAccessible: NodePort/LoadBalancer, or external IPs.
  const externallyAccessible = nodePortType || externalIPs.length > 0;
  const externalPolicyLocal = externallyAccessible && spec.externalTrafficPolicy === "Local";
  const internalPolicyLocal = spec.internalTrafficPolicy === "Local";
  // Unknown values are ignored, as kube-proxy and the EndpointSlice controller ignore them.
  const td = spec.trafficDistribution;
  const trafficDistribution: TrafficDistribution | undefined =
    td === "PreferClose" || td === "PreferSameZone" ? "PreferSameZone" : td === "PreferSameNode" ? td : undefined;
  const healthCheckNodePort =
    lbType && externalPolicyLocal ? optionalPort(spec.healthCheckNodePort, "spec.healthCheckNodePort") : undefined;

  const ports: ServicePortTemplate[] = [];
  const seen = new Set<string>();
  for (const [i, p] of (spec.ports ?? []).entries()) {
    const what = `spec.ports[${i}]`;
    let port: number;
    let protocol: ServiceProtocol;
    let nodePort: number | undefined;
    try {
      protocol = protocolOf(p?.protocol, what);
      port = portNumber(p?.port, what);
      nodePort = nodePortType ? optionalPort(p?.nodePort, `${what}.nodePort`) : undefined;
    } catch (e) {
      problems.push(`${(e as Error).message} (port skipped)`);
      continue;
    }
    const portName = p?.name ?? "";
    const key = servicePortKey(namespace, name, portName, protocol);
    if (seen.has(key)) {
      problems.push(`${what}: duplicate port name ${JSON.stringify(portName)} for ${protocol} (port skipped)`);
      continue;
    }
    seen.add(key);
    for (const family of [4, 6] as const) {
      const clusterIP = clusterIPs.find((c) => c.version === family);
      if (!clusterIP) continue;
      const of = (xs: { version: IpVersion; text: string }[]) =>
        uniqSorted(xs.filter((x) => x.version === family).map((x) => x.text));
      ports.push({
        key,
        namespace,
        service: name,
        portName,
        protocol,
        family,
        clusterIP: clusterIP.text,
        port,
        ...(nodePort !== undefined ? { nodePort } : {}),
        externalIPs: of(externalIPs),
        loadBalancerIPs: of(lbIPs),
        loadBalancerSourceRanges: of(ranges),
        ...(affinityTimeoutSeconds !== undefined ? { affinityTimeoutSeconds } : {}),
        externalPolicyLocal,
        internalPolicyLocal,
        ...(healthCheckNodePort !== undefined ? { healthCheckNodePort } : {}),
        ...(trafficDistribution ? { trafficDistribution } : {}),
      });
    }
  }
  return { namespace, name, ports, problems };
}

interface RawSlice extends KubeObject {
  addressType?: string;
  ports?: { name?: string; protocol?: string; port?: number }[];
  endpoints?: {
    addresses?: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    nodeName?: string;
    zone?: string;
    hints?: { forZones?: { name?: string }[]; forNodes?: { name?: string }[] };
    targetRef?: { kind?: string; name?: string; namespace?: string };
  }[];
}

/** Names of hint entries (forZones/forNodes); malformed entries are left out. */
function hintNames(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return [...new Set(list.map((h) => h?.name).filter((n): n is string => typeof n === "string" && n !== ""))].sort();
}

/** The slice's ports and endpoints; null when it is not for a service (no label) or is FQDN. */
export function convertEndpointSlice(s: RawSlice): ConvertedSlice | null {
  const namespace = s.metadata?.namespace || "default";
  const name = s.metadata?.name;
  if (!name) throw new Error("EndpointSlice has no metadata.name");
  const service = s.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (!service) return null; // not managed for a service: kube-proxy ignores it too
  if (s.addressType === "FQDN") return null;
  if (s.addressType !== "IPv4" && s.addressType !== "IPv6") {
    throw new Error(`addressType: must be IPv4, IPv6 or FQDN, not ${JSON.stringify(s.addressType)}`);
  }
  const family: IpVersion = s.addressType === "IPv4" ? 4 : 6;
  const problems: string[] = [];
  const ports: { name: string; protocol: ServiceProtocol; port: number }[] = [];
  for (const [i, p] of (s.ports ?? []).entries()) {
    try {
      ports.push({
        name: p?.name ?? "",
        protocol: protocolOf(p?.protocol, `ports[${i}]`),
        port: portNumber(p?.port, `ports[${i}]`),
      });
    } catch (e) {
      problems.push(`${(e as Error).message} (port skipped)`);
    }
  }
  const endpoints: SliceEndpoint[] = [];
  for (const [i, e] of (s.endpoints ?? []).entries()) {
    const addr = e?.addresses?.[0];
    if (addr === undefined) {
      problems.push(`endpoints[${i}]: no addresses (skipped)`);
      continue;
    }
    let ip: { version: IpVersion; text: string };
    try {
      ip = parseIp(addr);
    } catch (err) {
      problems.push(`endpoints[${i}]: ${(err as Error).message} (skipped)`);
      continue;
    }
    if (ip.version !== family) {
      problems.push(`endpoints[${i}]: ${ip.text} is not an ${s.addressType} address (skipped)`);
      continue;
    }
    const why = forbiddenServiceAddress(ip.text);
    if (why) {
      problems.push(
        `endpoints[${i}]: ${ip.text} is ${why}, never a backend of service ${namespace}/${service} (skipped)`,
      );
      continue;
    }
    const c = e.conditions ?? {};
    const ref = e.targetRef;
    // Keys set one by one, in this order (object spreads made it ~3× as slow, per endpoint).
    const ep: { -readonly [K in keyof SliceEndpoint]: SliceEndpoint[K] } = { ip: ip.text } as SliceEndpoint;
    if (e.nodeName) ep.nodeName = e.nodeName;
    if (typeof e.zone === "string" && e.zone) ep.zone = e.zone;
    if (e.hints !== undefined) {
      const zoneHints = hintNames(e.hints?.forZones);
      const nodeHints = hintNames(e.hints?.forNodes);
      if (zoneHints.length) ep.zoneHints = zoneHints;
      if (nodeHints.length) ep.nodeHints = nodeHints;
    }
    ep.ready = c.ready !== false;
    ep.serving = c.serving !== false;
    ep.terminating = c.terminating === true;
    // One flat string shared by the slices and services naming the pod (a rope of three was ~87 bytes each).
    if (ref?.kind === "Pod" && ref.name) ep.pod = internalized(`${ref.namespace || namespace}/${ref.name}`);
    endpoints.push(ep);
  }
  return { namespace, name, service, family, ports, endpoints, problems };
}
