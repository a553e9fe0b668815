// Service chain names, hashed the way kube-proxy hashes them, so
// cali-SVC-<h> carries the same 16 characters as kube-proxy's KUBE-SVC-<h>
// for the same service port: base32(sha256(servicePortName + protocol))[:16],
// servicePortName being `ns/svc:port` (`ns/svc` for an unnamed port); SEP
// chains also hash the endpoint `ip:port` (`[ip]:port` for IPv6).

import { hash } from "node:crypto";
import type { ServiceEndpoint, ServicePort } from "./model.js";

export const SERVICES_CHAIN = "cali-SERVICES";
export const NODEPORTS_CHAIN = "cali-NODEPORTS";
export const EXTERNAL_SERVICES_CHAIN = "cali-EXTERNAL-SERVICES";
export const PROXY_FIREWALL_CHAIN = "cali-PROXY-FIREWALL";
export const PROXY_FORWARD_CHAIN = "cali-PROXY-FORWARD";
export const MARK_MASQ_CHAIN = "cali-MARK-MASQ";
export const MASQUERADE_CHAIN = "cali-MASQUERADE";

/** The cluster's pod CIDRs as an IP set (hash:net), per family. */
export const podCidrSetName = (v: 4 | 6) => `cali${v}0svc-pod-cidrs`;

const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/**
 * RFC 4648 base32 of the digest's first `groups` × 20 bits, read from its hex text: five hex
 * digits are four base32 characters (no Buffer, slice or parseInt per name: a name per endpoint
 * at start-up).
 */
function base32Hex(hex: string, groups: number): string {
  let out = "";
  for (let i = 0; i < groups * 5; i += 5) {
    let v = 0;
    for (let j = i; j < i + 5; j++) v = (v << 4) | hexDigit(hex.charCodeAt(j));
    out += B32[v >>> 15] + B32[(v >>> 10) & 31] + B32[(v >>> 5) & 31] + B32[v & 31];
  }
  return out;
}

/** A lowercase hex digit's value (digest text: 0-9, a-f). */
const hexDigit = (c: number) => (c <= 57 ? c - 48 : c - 87);

/** The first 16 base32 characters: the first 10 bytes (80 bits) of the digest. */
const hash16 = (s: string) => base32Hex(hash("sha256", s, "hex"), 4);

/** The first 8 base32 characters (5 bytes) of the digest: kube-proxy's nftables chain hash. */
export const hash8 = (s: string) => base32Hex(hash("sha256", s, "hex"), 2);

/** kube-proxy's ServicePortName.String(). */
export function servicePortName(sp: Pick<ServicePort, "namespace" | "service" | "portName">): string {
  return `${sp.namespace}/${sp.service}${sp.portName ? `:${sp.portName}` : ""}`;
}

export function endpointString(ep: Pick<ServiceEndpoint, "ip" | "port">): string {
  return ep.ip.includes(":") ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}

export interface ServiceChainNames {
  /** Cluster policy: every usable endpoint. */
  readonly svc: string;
  /** Local policy: this node's usable endpoints. */
  readonly svl: string;
  /** External traffic (NodePort, external IPs, LB IPs). */
  readonly ext: string;
  /** LB source-range filter. */
  readonly fw: string;
}

export function serviceChainNames(sp: ServicePort): ServiceChainNames {
  const h = hash16(servicePortName(sp) + sp.protocol);
  return { svc: `cali-SVC-${h}`, svl: `cali-SVL-${h}`, ext: `cali-EXT-${h}`, fw: `cali-FW-${h}` };
}

export function endpointChainName(sp: ServicePort, ep: ServiceEndpoint): string {
  return sepChainName(servicePortName(sp) + sp.protocol, endpointString(ep));
}

/** endpointChainName from `servicePortName + protocol` and endpointString, when the caller has them. */
export const sepChainName = (portKey: string, endpoint: string) => `cali-SEP-${hash16(portKey + endpoint)}`;
