// Addresses a Service must never steer traffic to or capture (CVE-2020-8554's
// class): an endpoint at the node's loopback, a link-local or a cloud metadata
// address would let a namespace user DNAT other pods' traffic into the node or
// its metadata service; the API server refuses them in EndpointSlices, but the
// file datastore and a compromised writer need not.

import ipaddr from "ipaddr.js";
import { isCanonicalV4 } from "../conversion/cidr.js";

/** Cloud metadata services (AWS, GCP, Azure, OpenStack: 169.254.169.254; AWS IPv6: fd00:ec2::254). */
const METADATA = new Set(["169.254.169.254", "fd00:ec2::254"]);

const CLASSES: Readonly<Record<string, string>> = {
  unspecified: "an unspecified address",
  loopback: "a loopback address",
  linkLocal: "a link-local address",
  multicast: "a multicast address",
  broadcast: "a broadcast address",
};

/**
 * The CLASSES ranges of a canonical IPv4 address (ipaddr.js's names), from its leading octets:
 * every endpoint address passes here at start-up, and ipaddr.js parses each one twice.
 */
function v4Range(a: number, b: number, ip: string): string | undefined {
  if (a === 0) return "unspecified";
  if (a === 127) return "loopback";
  if (a === 169 && b === 254) return "linkLocal";
  if (a >= 224 && a <= 239) return "multicast";
  if (ip === "255.255.255.255") return "broadcast";
  return undefined;
}

/**
 * Why `ip` (canonical text) can never be a service backend or frontend, or
 * undefined when it can.
 */
export function forbiddenServiceAddress(ip: string): string | undefined {
  if (METADATA.has(ip)) return "a cloud metadata address";
  if (isCanonicalV4(ip)) {
    const [a, b] = ip.split(".", 2);
    const range = v4Range(Number(a), Number(b), ip);
    return range && CLASSES[range];
  }
  if (!ipaddr.isValid(ip)) return undefined;
  let addr = ipaddr.parse(ip);
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  }
  return CLASSES[addr.range()];
}
