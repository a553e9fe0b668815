// The service model the engine computes with: one ServicePort per
// (service, port, IP family), with the endpoints of every EndpointSlice of the
// service merged and the target port resolved per endpoint. Both proxy modes
// (iptables and IPVS) and `felix-dump services` read this and nothing else.

import { internalized } from "../../model/own-string.js";
import type { IpVersion } from "../model.js";

export type ServiceProtocol = "tcp" | "udp" | "sctp";

/** One endpoint of one service port, as the EndpointSlices describe it. */
export interface ServiceEndpoint {
  /** Canonical IP text. */
  readonly ip: string;
  /** The target port for this service port on this endpoint (named ports resolved per slice). */
  readonly port: number;
  readonly nodeName?: string;
  /** On this node (nodeName matches the agent's node). */
  readonly local: boolean;
  /** EndpointConditions, with kube-proxy's defaults: ready unset → true; serving unset → true; terminating unset → false. */
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** `<namespace>/<pod>` from targetRef, when it names a Pod. */
  readonly pod?: string;
  /** EndpointSlice hints (forZones, forNodes), or the controller's for the Service's trafficDistribution. */
  readonly zoneHints?: readonly string[];
  readonly nodeHints?: readonly string[];
  /** Ready, but topology-aware routing keeps this node's cluster traffic away from it (topology.ts). */
  readonly topologyExcluded?: true;
}

/** spec.trafficDistribution; PreferClose is PreferSameZone's older name. */
export type TrafficDistribution = "PreferSameZone" | "PreferSameNode";

/** kube-proxy's ServicePortName plus family: what one set of service chains / IPVS services is for. */
export interface ServicePort {
  /** `<namespace>/<service>:<port name>/<protocol>` (port name may be empty: `ns/svc:/tcp`). */
  readonly key: string;
  readonly namespace: string;
  readonly service: string;
  readonly portName: string;
  readonly protocol: ServiceProtocol;
  readonly family: IpVersion;
  readonly clusterIP: string;
  readonly port: number;
  /** NodePort / LoadBalancer services. */
  readonly nodePort?: number;
  readonly externalIPs: readonly string[];
  /** status.loadBalancer.ingress[].ip of this family. */
  readonly loadBalancerIPs: readonly string[];
  /** Canonical CIDRs; empty means any source. */
  readonly loadBalancerSourceRanges: readonly string[];
  /** sessionAffinity ClientIP: its timeout (default 10800 s); undefined when None. */
  readonly affinityTimeoutSeconds?: number;
  /** externalTrafficPolicy: Local (only for externally accessible services: NodePort, LoadBalancer, or with external IPs, as kube-proxy reads it). */
  readonly externalPolicyLocal: boolean;
  readonly internalPolicyLocal: boolean;
  readonly healthCheckNodePort?: number;
  readonly trafficDistribution?: TrafficDistribution;
  /** Every endpoint of every slice, deduplicated by ip:port, sorted by IP then port. */
  readonly endpoints: readonly ServiceEndpoint[];
}

export function servicePortKey(
  namespace: string,
  service: string,
  portName: string,
  protocol: ServiceProtocol,
): string {
  return internalized(`${namespace}/${service}:${portName}/${protocol}`); // flat: kept by several indexes
}

/**
 * FELIX_PROXYMODE: which dataplane proxies services (off: leave it to kube-proxy);
 * nftables (kube-proxy's nftables layout) only with the nftables dataplane.
 */
export type ProxyMode = "iptables" | "ipvs" | "nftables" | "off";
export const PROXY_MODES: readonly ProxyMode[] = ["iptables", "ipvs", "nftables", "off"];

/** Where a ServicePort sits in DesiredState.services: its key plus family, e.g. `ns/svc:http/tcp/v4`. */
export function servicePortId(sp: Pick<ServicePort, "key" | "family">): string {
  return `${sp.key}/v${sp.family}`;
}

/** kube-proxy's --nodeport-addresses: every local address (default), the node's primary IPs, or those in CIDRs. */
export type NodePortAddresses =
  | { readonly kind: "all" }
  | { readonly kind: "primary" }
  | { readonly kind: "cidrs"; readonly cidrs: readonly string[] };

/** kube-proxy's settings that change the iptables proxy mode's rules (FELIX_KUBEPROXY*). */
export interface KubeProxyOptions {
  /** --iptables-localhost-nodeports (default true; IPv4 only): node ports answer on 127.0.0.1 too. */
  readonly localhostNodePorts: boolean;
  /** --masquerade-all: every packet to a cluster IP is masqueraded. */
  readonly masqueradeAll: boolean;
  readonly nodePortAddresses: NodePortAddresses;
  /** net.netfilter.nf_conntrack_tcp_be_liberal is 1: kube-proxy then leaves out its INVALID drop. */
  readonly conntrackTCPLiberal: boolean;
}

export const DEFAULT_KUBE_PROXY_OPTIONS: KubeProxyOptions = {
  localhostNodePorts: true,
  masqueradeAll: false,
  nodePortAddresses: { kind: "all" },
  conntrackTCPLiberal: false,
};
