// Pod → WorkloadEndpoint (libcalico-go's podToDefaultWorkloadEndpoint).

import { hash } from "node:crypto";
import type { Pod } from "../../src/model/k8s.js";
import type { NamedPort, Protocol, WorkloadEndpoint } from "../model.js";
import { parseIp } from "./cidr.js";
import {
  isReservedLabel,
  NAMESPACE_LABEL,
  namespaceProfileId,
  ORCHESTRATOR_LABEL,
  SERVICE_ACCOUNT_LABEL,
  serviceAccountProfileId,
} from "./labels.js";
import { allowedSourcePrefixes } from "./source-prefixes.js";

/** Calico's veth name: `<prefix>` + first 11 hex chars of sha1(`<ns>.<pod>`). */
export function vethNameForWorkload(namespace: string, pod: string, prefix = "cali"): string {
  return prefix + hash("sha1", `${namespace}.${pod}`, "hex").slice(0, 11);
}

export function parseProtocol(p: unknown, what: string): Protocol {
  const s = p === undefined || p === null ? "TCP" : String(p).toUpperCase();
  if (s === "TCP" || s === "UDP" || s === "SCTP") return s.toLowerCase() as Protocol;
  throw new Error(`${what}: unsupported protocol ${JSON.stringify(p)}`);
}

/**
 * The pod's workload endpoint, or null when the pod is not one: host-network,
 * finished (Succeeded/Failed), or without an IP yet.
 */
export function podToWorkloadEndpoint(pod: Pod, interfacePrefix = "cali"): WorkloadEndpoint | null {
  const namespace = pod.metadata?.namespace || "default";
  const name = pod.metadata?.name;
  if (!name) throw new Error("pod has no metadata.name");
  if (pod.spec?.hostNetwork) return null;
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") return null;

  const ips = new Set<string>();
  for (const p of pod.status?.podIPs ?? []) if (p?.ip) ips.add(p.ip);
  if (pod.status?.podIP) ips.add(pod.status.podIP);
  if (ips.size === 0) return null;
  const v4 = new Set<string>();
  const v6 = new Set<string>();
  for (const raw of ips) {
    const ip = parseIp(raw);
    if (ip.version === 4) v4.add(`${ip.text}/32`);
    else v6.add(`${ip.text}/128`);
  }
  const ipv4Nets = [...v4];
  const ipv6Nets = [...v6];

  const sa = pod.spec?.serviceAccountName || pod.spec?.serviceAccount || "default";
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(pod.metadata?.labels ?? {})) if (!isReservedLabel(k)) labels[k] = String(v);
  labels[NAMESPACE_LABEL] = namespace;
  labels[ORCHESTRATOR_LABEL] = "k8s";
  if (sa.length < 63) labels[SERVICE_ACCOUNT_LABEL] = sa;

  const ports: NamedPort[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c?.ports ?? []) {
      if (!p?.name) continue;
      const port = Number(p.containerPort);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new Error(`container port ${p.name}: invalid containerPort ${JSON.stringify(p.containerPort)}`);
      }
      ports.push({ name: p.name, protocol: parseProtocol(p.protocol, `container port ${p.name}`), port });
    }
  }

  const spoofable = allowedSourcePrefixes(pod.metadata?.annotations);
  return {
    key: `${namespace}/${name}`,
    namespace,
    pod: name,
    node: pod.spec?.nodeName ?? "",
    iface: vethNameForWorkload(namespace, name, interfacePrefix),
    ipv4Nets: ipv4Nets.sort(),
    ipv6Nets: ipv6Nets.sort(),
    labels,
    profileIds: [namespaceProfileId(namespace), serviceAccountProfileId(namespace, sa)],
    ports,
    ...(spoofable.length > 0 ? { allowSpoofedSourcePrefixes: spoofable } : {}),
  };
}
