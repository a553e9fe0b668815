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
 * RFC 4648 base32 of the digest's first `groups` × 5 bytes (40 bits, eight characters each), read
 * from its "binary" (latin1) text, one character per byte: no hex text, slices or Buffer per name (a name
 * per endpoint at start-up).
 */
function base32(digest: string, groups: number): string {
  let out = "";
  for (let i = 0; i < groups * 5; i += 5) {
    // Two 20-bit halves: JS bit operations are 32-bit.
    const hi = (digest.charCodeAt(i) << 12) | (digest.charCodeAt(i + 1) << 4) | (digest.charCodeAt(i + 2) >>> 4);
    const lo = ((digest.charCodeAt(i + 2) & 15) << 16) | (digest.charCodeAt(i + 3) << 8) | digest.charCodeAt(i + 4);
    out += B32[hi >>> 15] + B32[(hi >>> 10) & 31] + B32[(hi >>> 5) & 31] + B32[hi & 31];
    out += B32[lo >>> 15] + B32[(lo >>> 10) & 31] + B32[(lo >>> 5) & 31] + B32[lo & 31];
  }
  return out;
}

/** The first 16 base32 characters: the first 10 bytes (80 bits) of the digest. */
const hash16 = (s: string) => base32(hash("sha256", s, "binary"), 2);

/** The first 8 base32 characters (5 bytes) of the digest: kube-proxy's nftables chain hash. */
export const hash8 = (s: string) => base32(hash("sha256", s, "binary"), 1);

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
