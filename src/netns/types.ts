// The kernel test topology's data types: its options, endpoints, servers, probes (see topology.ts).

/** sctp: an INIT answered by an INIT ACK on raw sockets (pod-server.py), IPv4. */
export type Protocol = "tcp" | "udp" | "sctp";

export interface PortSpec {
  readonly port: number;
  readonly protocol: Protocol;
}

export interface ServerSpec {
  readonly tcp?: readonly number[];
  readonly udp?: readonly number[];
  readonly sctp?: readonly number[];
}

export const DEFAULT_SERVERS: ServerSpec = { tcp: [80, 81], udp: [80, 81] };

export interface TopologyOptions {
  /** Name stem; the prefix is stem + 4 random hex digits. Default "fx". */
  readonly stem?: string;
  /** Underlay subnet; default "172.31.250.0/24". */
  readonly underlayCIDR?: string;
  /** Gateway address on the bridge in the switch netns; default "172.31.250.254". */
  readonly gateway?: string;
  /** IPv6 underlay subnet (used by nodes given underlayIpv6); default "fd00:fe11::/64". */
  readonly underlayCIDRv6?: string;
  /** IPv6 gateway on the bridge; default "fd00:fe11::fe". */
  readonly gatewayV6?: string;
  /** The second underlay subnet (nodes with secondSubnet); default "172.31.251.0/24", gateway .254. */
  readonly secondUnderlayCIDR?: string;
}

export interface NodeOptions {
  /** Underlay address without prefix length, e.g. "172.31.250.1". */
  readonly underlayIp: string;
  /** Optional IPv6 underlay address (in TopologyOptions.underlayCIDRv6), e.g. "fd00:fe11::1". */
  readonly underlayIpv6?: string;
  /** This node's pod CIDR (informational: used by tests). */
  readonly podCIDR: string;
  readonly podCIDRv6?: string;
  /** Host-networked servers in the node netns (default: none). */
  readonly servers?: ServerSpec;
  /**
   * On the second underlay subnet (TopologyOptions.secondUnderlayCIDR, bridge br1 in
   * the switch netns), which the switch routes to and from the first one.
   */
  readonly secondSubnet?: boolean;
}

export interface ExternalOptions {
  /** Default "203.0.113.10", on its own /24 behind the switch (gateway .254). */
  readonly ip?: string;
  /** Default TCP and UDP on 80. */
  readonly servers?: ServerSpec;
  /** Servers answer "<ns>/<name> <peer address>" (default true). */
  readonly tellPeer?: boolean;
}

/** A host outside the cluster, routed by the switch; the switch has no route to pod CIDRs. */
export interface TopoExternal {
  readonly kind: "external";
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
}

export interface PodOptions {
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly ipv6?: string;
  /** Default DEFAULT_SERVERS (TCP and UDP on 80 and 81); { } for none. */
  readonly servers?: ServerSpec;
  /** Free-form, for tests that build manifests from the topology. */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface TopoNode {
  readonly kind: "node";
  readonly name: string;
  readonly netns: string;
  readonly underlayIp: string;
  readonly underlayIpv6?: string;
  readonly podCIDR: string;
  readonly podCIDRv6?: string;
  /** Interface of this node's underlay veth inside the switch netns. */
  readonly switchPort: string;
  /** Its underlay gateway and prefix length (the second subnet's for secondSubnet nodes). */
  readonly gateway?: string;
  readonly underlayPrefixLength?: number;
  readonly pods: TopoPod[];
}

export interface TopoPod {
  readonly kind: "pod";
  readonly namespace: string;
  readonly name: string;
  /** "<namespace>/<name>": also what its servers answer. */
  readonly key: string;
  readonly node: TopoNode;
  readonly netns: string;
  readonly ip: string;
  readonly ipv6?: string;
  /** Host-side veth in the node netns ("cali…"). */
  readonly hostIface: string;
  readonly servers: ServerSpec;
  readonly labels: Readonly<Record<string, string>>;
}

export type Endpoint = TopoPod | TopoNode;

export interface ProbeResult {
  readonly ok: boolean;
  /** The server's reply (its "<namespace>/<name>") when ok. */
  readonly reply?: string;
  /** Why not, e.g. "timeout", "ConnectionRefusedError:Connection_refused". */
  readonly error?: string;
  readonly ms: number;
}

export interface ProbeMatrixOptions {
  readonly concurrency?: number;
  readonly timeoutMs?: number;
  /** Clients (default: the pods). */
  readonly clients?: readonly Endpoint[];
  /** Probe the servers' IPv6 addresses. */
  readonly ipv6?: boolean;
}

export interface ProbeMatrix {
  readonly clients: readonly string[];
  readonly servers: readonly string[];
  readonly ports: readonly PortSpec[];
  /** results[client][server]["tcp/80"] */
  readonly results: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, ProbeResult>>>>>>;
  /** One truth table per port: header row of servers, one row per client, "." connected, "X" blocked. */
  readonly text: string;
  readonly ms: number;
  get(client: Endpoint | string, server: Endpoint | string, port: number, protocol: Protocol): boolean;
  /** Compare with expectations; text is the Kubernetes e2e-style comparison (". " agrees, "X" differs). */
  compare(expected: (client: string, server: string, port: PortSpec) => boolean): {
    ok: boolean;
    mismatches: string[];
    text: string;
  };
}
