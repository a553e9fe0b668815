// Small builders for Kubernetes objects and resource updates, for graph tests.

import type { DesiredState } from "../../calc-graph/desired-state.js";
import { renderIpSets } from "../../iptables/ipset.js";
import { renderTables } from "../../iptables/render.js";
import { ipSetList } from "../../model/ipset-shards.js";
import type { NetworkPolicy, Pod } from "../../model/k8s.js";
import type { Kind, ResourceUpdate } from "../../model/resource.js";

export function update(kind: Kind, namespace: string, name: string, value: object | null): ResourceUpdate {
  return { kind, namespace, name, value };
}

export function namespace(name: string, labels: Record<string, string> = {}): ResourceUpdate {
  return update("Namespace", "", name, { kind: "Namespace", metadata: { name, labels } });
}

export interface PodOptions {
  node?: string;
  ip?: string;
  ips?: string[];
  labels?: Record<string, string>;
  ports?: { name: string; containerPort: number; protocol?: string }[];
  sa?: string;
}

export function pod(ns: string, name: string, o: PodOptions = {}): ResourceUpdate {
  const p: Pod = {
    kind: "Pod",
    metadata: { name, namespace: ns, labels: o.labels ?? {} },
    spec: {
      nodeName: o.node ?? "node1",
      serviceAccountName: o.sa,
      containers: [{ name: "c", ports: o.ports ?? [] }],
    },
    status: {
      phase: "Running",
      podIP: o.ip,
      podIPs: (o.ips ?? (o.ip ? [o.ip] : [])).map((ip) => ({ ip })),
    },
  };
  return update("Pod", ns, name, p);
}

export function policy(ns: string, name: string, spec: NetworkPolicy["spec"]): ResourceUpdate {
  return update("NetworkPolicy", ns, name, { kind: "NetworkPolicy", metadata: { name, namespace: ns }, spec });
}

export function node(name: string, podCIDR: string, ip: string): ResourceUpdate {
  return update("Node", "", name, {
    kind: "Node",
    metadata: { name },
    spec: { podCIDR },
    status: { addresses: [{ type: "InternalIP", address: ip }] },
  });
}

export function deleted(u: ResourceUpdate): ResourceUpdate {
  return { ...u, value: null };
}

/** Everything a DesiredState holds, as one deterministic text: for comparing states. */
export function renderState(s: DesiredState): string {
  return [
    renderTables(s.iptables.ipv4),
    renderTables(s.iptables.ipv6),
    renderIpSets(ipSetList(s.ipsets)),
    JSON.stringify(Object.entries(s.routes).sort()),
    JSON.stringify(Object.entries(s.sysctls).sort()),
    JSON.stringify(Object.entries(s.endpoints).sort()),
  ].join("\n");
}
