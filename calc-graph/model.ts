// The Calico-side model the graph computes with, converted from Kubernetes
// objects the way libcalico-go's k8s conversion does.

import type { Selector } from "./selector/selector.js";

export type Protocol = "tcp" | "udp" | "sctp";
export type IpVersion = 4 | 6;
/** A rule's protocol: a port protocol, another named one, or a number (1-255) iptables has no name for. */
export type RuleProtocol = Protocol | "icmp" | "icmpv6" | "udplite" | number;
/** Calico rule actions (`pass` is Calico's Pass/next-tier; `log` logs and carries on). */
export type RuleAction = "allow" | "deny" | "pass" | "log";

export const isPortProtocol = (p: RuleProtocol | undefined): p is Protocol =>
  p === "tcp" || p === "udp" || p === "sctp";

/** An ICMP type, optionally with a code. */
export interface IcmpMatch {
  readonly type: number;
  readonly code?: number;
}

export interface NamedPort {
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
}

/** A pod with an IP, on any node: it feeds IP sets; local ones also get chains. */
export interface WorkloadEndpoint {
  /** `<namespace>/<pod>` */
  readonly key: string;
  readonly namespace: string;
  readonly pod: string;
  readonly node: string;
  /** Host-side veth name, `cali` + sha1(`<ns>.<pod>`)[:11]. */
  readonly iface: string;
  readonly ipv4Nets: readonly string[];
  readonly ipv6Nets: readonly string[];
  /** The pod's own labels plus the `projectcalico.org/*` ones. */
  readonly labels: Readonly<Record<string, string>>;
  /** `kns.<ns>`, `ksa.<ns>.<sa>`: parents whose labels the endpoint inherits. */
  readonly profileIds: readonly string[];
  readonly ports: readonly NamedPort[];
  /** `cni.projectcalico.org/allowedSourcePrefixes`: sources exempt from anti-spoofing (workloadSourceSpoofing Any). */
  readonly allowSpoofedSourcePrefixes?: readonly string[];
}

/** `kns.<ns>` (allow-all rules) or `ksa.<ns>.<sa>` (no rules). */
export interface Profile {
  readonly id: string;
  /** Labels endpoints inherit (`pcns.*` / `pcsa.*`). */
  readonly labels: Readonly<Record<string, string>>;
  readonly inbound: readonly PolicyRule[];
  readonly outbound: readonly PolicyRule[];
}

export interface PortRange {
  readonly first: number;
  readonly last: number;
}

/** One Calico rule: all of its fields must match (AND). */
export interface PolicyRule {
  readonly action: RuleAction;
  readonly protocol?: RuleProtocol;
  readonly notProtocol?: RuleProtocol;
  /** Only this family renders the rule (Calico's ipVersion; implied by ICMP/ICMPv6). */
  readonly ipVersion?: IpVersion;
  readonly icmp?: IcmpMatch;
  readonly notIcmp?: IcmpMatch;
  readonly srcPorts?: readonly PortRange[];
  readonly srcNotPorts?: readonly PortRange[];
  readonly dstNotPorts?: readonly PortRange[];
  /** Named ports the destination must not be on (each a negated `hash:ip,port` set over `namedPortSelector`). */
  readonly dstNotNamedPorts?: readonly string[];
  readonly srcSelector?: Selector;
  /** Calico's notSelector: the peer must not be in this set. */
  readonly srcNotSelector?: Selector;
  readonly dstNotSelector?: Selector;
  readonly srcNets?: readonly string[];
  readonly srcNotNets?: readonly string[];
  readonly dstSelector?: Selector;
  readonly dstNets?: readonly string[];
  readonly dstNotNets?: readonly string[];
  readonly dstPorts?: readonly PortRange[];
  /**
   * A named destination port, resolved per destination endpoint through a
   * `hash:ip,port` set over `namedPortSelector`.
   */
  readonly dstNamedPort?: string;
  readonly namedPortSelector?: Selector;
  /**
   * OR-blocks, each rendered once instead of multiplying the rule (Felix
   * renders a rule's OR'd CIDRs, sets and port chunks the same way): the rule
   * also needs one of `anyPeer` (kept in a scratch mark) and one of `anyPort`.
   * A k8s rule with P peers and G port groups is then P + G iptables rules, not
   * P × G.
   */
  readonly anyPeer?: readonly PeerMatch[];
  readonly anyPort?: readonly PortMatch[];
}

/** One alternative of `PolicyRule.anyPeer`. */
export type PeerMatch = Pick<
  PolicyRule,
  | "srcSelector"
  | "srcNets"
  | "srcNotNets"
  | "dstSelector"
  | "dstNets"
  | "dstNotNets"
  | "srcNotSelector"
  | "dstNotSelector"
>;

/** One alternative of `PolicyRule.anyPort`. */
export type PortMatch = Pick<PolicyRule, "protocol" | "dstPorts" | "dstNamedPort" | "namedPortSelector">;

/** The plain rules a rule with OR-blocks stands for (their product): for explanations, not for rendering. */
export function expandRule(r: PolicyRule): PolicyRule[] {
  const { anyPeer, anyPort, ...own } = r;
  const peers: readonly PeerMatch[] = anyPeer ?? [{}];
  const ports: readonly PortMatch[] = anyPort ?? [{}];
  return peers.flatMap((peer) => ports.map((port) => ({ ...own, ...peer, ...port })));
}

export interface PolicyId {
  readonly tier: string;
  readonly namespace: string;
  /** Calico name, e.g. `knp.default.<k8s name>`. */
  readonly name: string;
}

/** The policy kinds the graph enforces (staged kinds are never enforced: see calico/staged.ts). */
export type PolicyKind = "KubernetesNetworkPolicy" | "NetworkPolicy" | "GlobalNetworkPolicy" | "ClusterNetworkPolicy";

/** A Calico tier: policies of lower-order tiers run first; `Pass` goes on to the next tier. */
export interface Tier {
  readonly name: string;
  /** Unset: after every tier with an order (Felix: nil order sorts last). */
  readonly order?: number;
  readonly defaultAction: "Deny" | "Pass";
}

export interface Policy {
  readonly id: PolicyId;
  /** The chain-name id: `<tier>/<namespace>/<name>` for Kubernetes policies, Felix's `np/<ns>/<name>`, `gnp/<name>` for Calico's. */
  readonly key: string;
  readonly kind: PolicyKind;
  /** Within its tier, lower first; unset is +Infinity (last). Ties go by name, namespace, kind (Felix). */
  readonly order: number;
  readonly selector: Selector;
  readonly ingress: boolean;
  readonly egress: boolean;
  readonly inbound: readonly PolicyRule[];
  readonly outbound: readonly PolicyRule[];
  /**
   * GlobalNetworkPolicy's host-endpoint flags: a preDNAT or doNotTrack policy
   * never applies to workload endpoints (Felix renders it only in the host
   * endpoints' mangle / raw chains); applyOnForward extends a host endpoint's
   * policy to forwarded traffic.
   */
  readonly preDNAT?: boolean;
  readonly doNotTrack?: boolean;
  readonly applyOnForward?: boolean;
}

/**
 * A Calico HostEndpoint: a host interface (by name, `*` for all of them, or
 * by the addresses it carries) policed like a workload. Its expected IPs also
 * feed the IP sets of rule selectors that match it, on every node.
 */
export interface HostEndpoint {
  /** `hep:<name>`: never a workload key (namespaces hold no ':'). */
  readonly key: string;
  readonly name: string;
  readonly node: string;
  /** The interface, `*` for all, or "" when only expectedIPs place it. */
  readonly interfaceName: string;
  /** expectedIPs as host CIDRs (/32, /128). */
  readonly ipv4Nets: readonly string[];
  readonly ipv6Nets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly profileIds: readonly string[];
  readonly ports: readonly NamedPort[];
}

/** A Calico NetworkSet (namespaced) or GlobalNetworkSet: labelled nets that rule selectors match. */
export interface NetworkSet {
  /** `ns:<namespace>/<name>` or `gns:<name>`. */
  readonly key: string;
  /** Canonical CIDRs per family. */
  readonly ipv4Nets: readonly string[];
  readonly ipv6Nets: readonly string[];
  /** Own labels; a namespaced set also carries `projectcalico.org/namespace`. */
  readonly labels: Readonly<Record<string, string>>;
  /** `kns.<ns>` for a namespaced set (its namespace's labels), none for a global one. */
  readonly profileIds: readonly string[];
}

export interface NodeInfo {
  readonly name: string;
  readonly internalIPs: readonly string[];
  readonly podCIDRs: readonly string[];
  /** The node's labels (IP pools' nodeSelector). */
  readonly labels?: Readonly<Record<string, string>>;
  /** `projectcalico.org/IPv4Address`: the node's address with its subnet length, e.g. `172.31.250.1/24`. */
  readonly ipv4Address?: string;
  /** `projectcalico.org/IPv4VXLANTunnelAddr`. */
  readonly vxlanTunnelAddr?: string;
  /** `projectcalico.org/IPv4VXLANTunnelMACAddr` (lower case). */
  readonly vxlanTunnelMac?: string;
  /** `projectcalico.org/IPv4IPIPTunnelAddr`. */
  readonly ipipTunnelAddr?: string;
  /** `projectcalico.org/IPv6Address`: the node's IPv6 address with its subnet length. */
  readonly ipv6Address?: string;
  /** `projectcalico.org/IPv6VXLANTunnelAddr`. */
  readonly vxlanTunnelAddrV6?: string;
  /** `projectcalico.org/VXLANTunnelMACAddrV6` (lower case). */
  readonly vxlanTunnelMacV6?: string;
}

export function policyKey(id: PolicyId): string {
  return `${id.tier}/${id.namespace}/${id.name}`;
}
