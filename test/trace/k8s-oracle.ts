// An oracle for the tracer's property test: Kubernetes NetworkPolicy
// semantics computed straight from the generated objects (not through the
// graph): a pod is isolated in a direction when a policy of its namespace
// selects it for that direction; then a connection is allowed iff some rule of
// such a policy matches the peer (pod + namespace labels, or ipBlock minus
// except) and the port (number or the server's named port; TCP by default).
// Only the shapes the generator makes: matchLabels selectors, numeric and
// named ports, ipBlock with except.

import ipaddr from "ipaddr.js";

export interface OraclePod {
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly { name: string; containerPort: number; protocol: "TCP" | "UDP" }[];
}

type Labels = Readonly<Record<string, string>>;
export interface Selector {
  readonly matchLabels?: Labels;
}
export interface Peer {
  readonly podSelector?: Selector;
  readonly namespaceSelector?: Selector;
  readonly ipBlock?: { readonly cidr: string; readonly except?: readonly string[] };
}
export interface PolicyPort {
  readonly port?: number | string;
  readonly protocol?: "TCP" | "UDP";
}
export interface Rule {
  readonly from?: readonly Peer[];
  readonly to?: readonly Peer[];
  readonly ports?: readonly PolicyPort[];
}
export interface K8sPolicy {
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly spec: {
    readonly podSelector: Selector;
    readonly policyTypes: readonly ("Ingress" | "Egress")[];
    readonly ingress?: readonly Rule[];
    readonly egress?: readonly Rule[];
  };
}

const selects = (s: Selector | undefined, l: Labels) =>
  Object.entries(s?.matchLabels ?? {}).every(([k, v]) => l[k] === v);

function inCidr(ip: string, cidr: string): boolean {
  const [net, len] = ipaddr.parseCIDR(cidr);
  return ipaddr.parse(ip).match(net, len);
}

export class K8sOracle {
  constructor(
    private readonly nsLabels: Readonly<Record<string, Labels>>,
    private readonly policies: readonly K8sPolicy[],
  ) {}

  allowed(client: OraclePod, server: OraclePod, port: number, protocol: "TCP" | "UDP"): boolean {
    return (
      this.direction(client, "Egress", server, server, port, protocol) &&
      this.direction(server, "Ingress", client, server, port, protocol)
    );
  }

  /** `ep` isolated in `type`? Then some rule must match `peer` on the server's port. */
  private direction(
    ep: OraclePod,
    type: "Ingress" | "Egress",
    peer: OraclePod,
    server: OraclePod,
    port: number,
    protocol: "TCP" | "UDP",
  ): boolean {
    const mine = this.policies.filter(
      (p) =>
        p.metadata.namespace === ep.namespace &&
        selects(p.spec.podSelector, ep.labels) &&
        p.spec.policyTypes.includes(type),
    );
    if (mine.length === 0) return true;
    return mine.some((p) =>
      ((type === "Ingress" ? p.spec.ingress : p.spec.egress) ?? []).some((r) => {
        const peers = type === "Ingress" ? r.from : r.to;
        const peerOk =
          !peers || peers.length === 0 || peers.some((x) => this.peerMatches(x, peer, p.metadata.namespace));
        const portOk = !r.ports || r.ports.length === 0 || r.ports.some((x) => portMatches(x, server, port, protocol));
        return peerOk && portOk;
      }),
    );
  }

  private peerMatches(x: Peer, pod: OraclePod, policyNs: string): boolean {
    if (x.ipBlock) return inCidr(pod.ip, x.ipBlock.cidr) && !(x.ipBlock.except ?? []).some((e) => inCidr(pod.ip, e));
    const nsOk = x.namespaceSelector
      ? selects(x.namespaceSelector, this.nsLabels[pod.namespace] ?? {})
      : pod.namespace === policyNs;
    return nsOk && selects(x.podSelector, pod.labels);
  }
}

function portMatches(x: PolicyPort, server: OraclePod, port: number, protocol: "TCP" | "UDP"): boolean {
  if ((x.protocol ?? "TCP") !== protocol) return false;
  if (x.port === undefined) return true;
  if (typeof x.port === "number") return x.port === port;
  return server.ports.some((p) => p.name === x.port && p.containerPort === port && p.protocol === protocol);
}
