// Pod → WorkloadEndpoint (libcalico-go's podToDefaultWorkloadEndpoint).

import { hash } from "node:crypto";
import type { Pod } from "../../model/k8s.js";
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

/** Constants, not `toLowerCase()`: that made a copy per port (20,000 of "tcp" at the large preset). */
const PROTOCOLS: Readonly<Record<string, Protocol>> = { TCP: "tcp", UDP: "udp", SCTP: "sctp" };

export function parseProtocol(p: unknown, what: string): Protocol {
  const s = p === undefined || p === null ? "TCP" : String(p).toUpperCase();
  if (Object.hasOwn(PROTOCOLS, s)) return PROTOCOLS[s];
  throw new Error(`${what}: unsupported protocol ${JSON.stringify(p)}`);
}

/** Calico CNI's record of the pod's addresses (`10.65.1.2/32`), written before the kubelet's status. */
export const ANNOTATION_POD_IP = "cni.projectcalico.org/podIP";
export const ANNOTATION_POD_IPS = "cni.projectcalico.org/podIPs";

/**
 * True when the pod no longer owns its addresses, as libcalico-go's IsFinished
 * decides: phase Succeeded, Failed or Completed, or being deleted after Calico
 * CNI released the address (it sets the podIP annotation to "" at that moment,
 * long before the kubelet's status forgets it). The address may already belong
 * to a new pod: the old one must not keep it in a set or a route.
 */
export function podIsFinished(pod: Pod): boolean {
  const annotations = pod.metadata?.annotations;
  if (pod.metadata?.deletionTimestamp && annotations && Object.hasOwn(annotations, ANNOTATION_POD_IP)) {
    if (annotations[ANNOTATION_POD_IP] === "") return true;
  }
  const phase = pod.status?.phase;
  return phase === "Succeeded" || phase === "Failed" || phase === "Completed";
}

/** A CNI annotation entry: a bare address or a full-length prefix (`10.65.1.2/32`). */
function annotationIp(raw: string): string {
  const parts = raw.trim().split("/");
  const ip = parseIp(parts[0]);
  const full = ip.version === 4 ? "32" : "128";
  if (parts.length > 2 || (parts.length === 2 && parts[1] !== full)) {
    throw new Error(`pod address annotation: ${JSON.stringify(raw)} is not a single address`);
  }
  return ip.text;
}

/**
 * The pod's addresses: status.podIPs/podIP once the kubelet has written them,
 * else Calico CNI's podIPs, else its podIP annotation (libcalico-go's order).
 */
function podAddresses(pod: Pod): string[] {
  const ips: string[] = [];
  for (const p of pod.status?.podIPs ?? []) if (p?.ip) ips.push(p.ip);
  if (pod.status?.podIP) ips.push(pod.status.podIP);
  if (ips.length > 0) return ips;
  const a = pod.metadata?.annotations ?? {};
  const plural = typeof a[ANNOTATION_POD_IPS] === "string" ? a[ANNOTATION_POD_IPS] : "";
  const single = typeof a[ANNOTATION_POD_IP] === "string" ? a[ANNOTATION_POD_IP] : "";
  const from = plural.trim() !== "" ? plural.split(",") : single.trim() !== "" ? [single] : [];
  return from.map(annotationIp);
}

/**
 * The pod's workload endpoint, or null when the pod is not one: host-network,
 * finished (see podIsFinished), or without an IP yet.
 */
export function podToWorkloadEndpoint(pod: Pod, interfacePrefix = "cali"): WorkloadEndpoint | null {
  const namespace = pod.metadata?.namespace || "default";
  const name = pod.metadata?.name;
  if (!name) throw new Error("pod has no metadata.name");
  if (pod.spec?.hostNetwork) return null;
  if (podIsFinished(pod)) return null;

  const ips = podAddresses(pod);
  if (ips.length === 0) return null;
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

  // Named ports of init containers count too (native sidecars serve on them), as in libcalico-go.
  const ports: NamedPort[] = [];
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
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
    ports: ports.length > 0 ? ports.slice() : ports, // exact size: a pushed-to array keeps room for 17
    ...(spoofable.length > 0 ? { allowSpoofedSourcePrefixes: spoofable } : {}),
  };
}
