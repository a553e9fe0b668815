// The conformance cluster's layout, shared by the kernel e2e
// (conformance.test.ts) and the tracer's agreement test (test/trace/): pods a
// and c on node1, b on node2, IPs by namespace, an IP pool without NAT.

/** Placement: pods a and c on node1, b on node2; IPs by namespace. */
export const LAYOUT: Record<string, { node: "node1" | "node2"; ip: string }> = {
  "x/a": { node: "node1", ip: "10.66.1.10" },
  "x/c": { node: "node1", ip: "10.66.1.11" },
  "y/a": { node: "node1", ip: "10.66.1.20" },
  "y/c": { node: "node1", ip: "10.66.1.21" },
  "z/a": { node: "node1", ip: "10.66.1.30" },
  "z/c": { node: "node1", ip: "10.66.1.31" },
  "x/b": { node: "node2", ip: "10.66.2.10" },
  "y/b": { node: "node2", ip: "10.66.2.20" },
  "z/b": { node: "node2", ip: "10.66.2.30" },
};

export const IP_POOL = {
  apiVersion: "projectcalico.org/v3",
  kind: "IPPool",
  metadata: { name: "default-ipv4-ippool" },
  spec: { cidr: "10.66.0.0/16", ipipMode: "Never", vxlanMode: "Never", natOutgoing: false },
};

export const NODES = [
  { name: "node1", underlayIp: "172.31.251.1", podCIDR: "10.66.1.0/24" },
  { name: "node2", underlayIp: "172.31.251.2", podCIDR: "10.66.2.0/24" },
] as const;
