// Kubernetes manifests for the nodes and pods of a Topology, as the API server
// would hold them: what the e2e tests and `felix demo` feed the file datastore.

import type { TopoNode, TopoPod } from "./topology.js";

export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol: "TCP" | "UDP" | "SCTP";
}

/** The node, with Calico's node annotations when given (`projectcalico.org/IPv4Address`, tunnel addresses, …). */
export function nodeManifest(n: TopoNode, annotations: Record<string, string> = {}): object {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: Object.keys(annotations).length > 0 ? { name: n.name, annotations } : { name: n.name },
    spec: { podCIDR: n.podCIDR },
    status: { addresses: [{ type: "InternalIP", address: n.underlayIp }] },
  };
}

/**
 * A running pod on its node with its IP. Its container ports are `ports` when
 * given, else one per server port, named `serve-<port>-<proto>`.
 */
export function podManifest(p: TopoPod, labels: Record<string, string> = {}, ports?: readonly ContainerPort[]): object {
  const declared: ContainerPort[] = ports
    ? [...ports]
    : (["tcp", "udp"] as const).flatMap((proto) =>
        (p.servers[proto] ?? []).map((port) => ({
          name: `serve-${port}-${proto}`,
          containerPort: port,
          protocol: proto === "tcp" ? ("TCP" as const) : ("UDP" as const),
        })),
      );
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: p.name, namespace: p.namespace, labels: { pod: p.name, ...p.labels, ...labels } },
    spec: {
      nodeName: p.node.name,
      containers: declared.map((port) => ({
        name: `cont-${port.containerPort}-${port.protocol.toLowerCase()}`,
        ports: [port],
      })),
    },
    status: { phase: "Running", podIP: p.ip, podIPs: [{ ip: p.ip }] },
  };
}
