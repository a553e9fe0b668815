// CIDR and IP parsing on top of ipaddr.js. Host bits are masked the way the
// API server accepts them (`10.0.0.5/24` means `10.0.0.0/24`).

import ipaddr from "ipaddr.js";
import type { IpVersion } from "../model.js";

export interface Cidr {
  readonly version: IpVersion;
  /** Canonical text with host bits cleared, e.g. `10.0.0.0/24`, `fd00::/64`. */
  readonly text: string;
}

/** Parses a CIDR (or a bare IP, as a /32 or /128); throws a clear Error. */
export function parseCidr(text: string): Cidr {
  if (typeof text !== "string" || text.trim() === "") {
    throw new Error(`invalid CIDR ${JSON.stringify(text)}: empty`);
  }
  const t = text.trim();
  const v4 = canonicalV4Cidr(t);
  if (v4) return v4;
  const addrPart = t.split("/")[0];
  if (!addrPart.includes(":") && !ipaddr.IPv4.isValidFourPartDecimal(addrPart)) {
    throw new Error(`invalid CIDR ${JSON.stringify(text)}`);
  }
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let len: number;
  try {
    if (t.includes("/")) {
      [addr, len] = ipaddr.parseCIDR(t);
    } else {
      addr = ipaddr.parse(t);
      len = addr.kind() === "ipv4" ? 32 : 128;
    }
  } catch {
    throw new Error(`invalid CIDR ${JSON.stringify(text)}`);
  }
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    throw new Error(`invalid CIDR ${JSON.stringify(text)}: IPv4-mapped IPv6 addresses are not supported`);
  }
  const version: IpVersion = addr.kind() === "ipv4" ? 4 : 6;
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  const masked = ipaddr.fromByteArray(bytes);
  return { version, text: `${masked.toString()}/${len}` };
}

const CANONICAL_V4 = /^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/;
const CANONICAL_V4_CIDR = /^((?:0|[1-9]\d{0,2})(?:\.(?:0|[1-9]\d{0,2})){3})\/(0|[1-9]\d?)$/;

/**
 * `a.b.c.d/len` in canonical form, masked with integer arithmetic: ipaddr.js's parseCIDR tries
 * IPv6 first and throws for every IPv4 CIDR (thousands of policy peers at start-up). Anything
 * else (a bare IP, IPv6, leading zeros, out of range) is left to the general path.
 */
function canonicalV4Cidr(t: string): Cidr | undefined {
  const m = CANONICAL_V4_CIDR.exec(t);
  if (!m || !octetsInRange(m[1])) return undefined;
  const len = Number(m[2]);
  if (len > 32) return undefined;
  let n = 0;
  for (const o of m[1].split(".")) n = n * 256 + Number(o);
  const masked = len === 0 ? 0 : n - (n % 2 ** (32 - len));
  const octets = [masked >>> 24, (masked >>> 16) & 255, (masked >>> 8) & 255, masked & 255];
  return { version: 4, text: `${octets.join(".")}/${len}` };
}

/** Every octet of a CANONICAL_V4 match is at most 255 (read in place: no split). */
function octetsInRange(t: string): boolean {
  let n = 0;
  for (let i = 0; i <= t.length; i++) {
    const c = i < t.length ? t.charCodeAt(i) : 46;
    if (c === 46) {
      if (n > 255) return false;
      n = 0;
    } else n = n * 10 + c - 48;
  }
  return true;
}

/** A dotted quad in canonical form (decimal, no leading zeros, octets ≤ 255), as parseIp returns it. */
export function isCanonicalV4(t: string): boolean {
  return CANONICAL_V4.test(t) && octetsInRange(t);
}

/** Parses a single IP address into canonical text; throws a clear Error. */
export function parseIp(text: string): { version: IpVersion; text: string } {
  const t = typeof text === "string" ? text.trim() : "";
  // Canonical dotted quads (every pod and endpoint address, tens of thousands at start-up) need no parser.
  if (isCanonicalV4(t)) return { version: 4, text: t };
  if (!(t.includes(":") ? ipaddr.IPv6.isValid(t) : ipaddr.IPv4.isValidFourPartDecimal(t))) {
    throw new Error(`invalid IP address ${JSON.stringify(text)}`);
  }
  const addr = ipaddr.parse(t);
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    throw new Error(`invalid IP address ${JSON.stringify(text)}: IPv4-mapped IPv6 addresses are not supported`);
  }
  return { version: addr.kind() === "ipv4" ? 4 : 6, text: addr.toString() };
}

/** The family of a canonical CIDR or IP. */
export function familyOf(cidrOrIp: string): IpVersion {
  return cidrOrIp.includes(":") ? 6 : 4;
}
