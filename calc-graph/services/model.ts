// The service model the engine computes with: one ServicePort per
// (service, port, IP family), with the endpoints of every EndpointSlice of the
// service merged and the target port resolved per endpoint. Both proxy modes
// (iptables and IPVS) and `felix-dump services` read this and nothing else.

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
  /** EndpointConditions, with Kubernetes' defaults: ready unset → true; serving unset → ready; terminating unset → false. */
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** `<namespace>/<pod>` from targetRef, when it names a Pod. */
  readonly pod?: string;
}

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
  /** externalTrafficPolicy: Local (only for NodePort/LoadBalancer services, as the API defines it). */
  readonly externalPolicyLocal: boolean;
  readonly internalPolicyLocal: boolean;
  readonly healthCheckNodePort?: number;
  /** Every endpoint of every slice, deduplicated by ip:port, sorted by IP then port. */
  readonly endpoints: readonly ServiceEndpoint[];
}

export function servicePortKey(
  namespace: string,
  service: string,
  portName: string,
  protocol: ServiceProtocol,
): string {
  return `${namespace}/${service}:${portName}/${protocol}`;
}
