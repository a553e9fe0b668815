// A parsed CIDR for containment tests on canonical address text. IPv4 (most
// of the checks: every pod address against pools and blocks) compares 32-bit
// integers without a parser; IPv6 goes through ipaddr.js.

import ipaddr from "ipaddr.js";

function v4Int(text: string): number | undefined {
  const p = text.split(".");
  if (p.length !== 4) return undefined;
  let n = 0;
  for (const o of p) n = n * 256 + Number(o);
  return Number.isInteger(n) ? n : undefined;
}

export class Prefix {
  private constructor(
    /** Canonical CIDR text. */
    readonly cidr: string,
    readonly family: 4 | 6,
    readonly length: number,
    private readonly base: number,
    private readonly v6?: ipaddr.IPv6,
  ) {
    // IPv4: the whole octets every address inside starts with, as text ("10.65.1." for a /24 or
    // /26): most addresses tested against a block are outside it, and fail on this alone.
    const octets = family === 4 ? Math.min(3, Math.floor(length / 8)) : 0;
    this.lead =
      octets > 0
        ? `${[base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].slice(0, octets).join(".")}.`
        : "";
  }

  /** IPv4: the whole leading octets every address inside starts with (`10.65.1.`); "" otherwise. */
  readonly lead: string;

  /** `cidr` in canonical form (`10.65.1.0/24`, a bare address as /32 or /128). */
  static parse(cidr: string): Prefix {
    const [addr, len] = cidr.split("/");
    if (addr.includes(":")) {
      return new Prefix(cidr, 6, len === undefined ? 128 : Number(len), 0, ipaddr.IPv6.parse(addr));
    }
    const length = len === undefined ? 32 : Number(len);
    return new Prefix(cidr, 4, length, (v4Int(addr) ?? 0) - ((v4Int(addr) ?? 0) % 2 ** (32 - length)));
  }

  /** True when the address or CIDR (canonical text) lies inside this prefix. */
  contains(ipOrCidr: string): boolean {
    if (this.lead !== "" && !ipOrCidr.startsWith(this.lead)) return false;
    const [addr, len] = ipOrCidr.split("/");
    const l = len === undefined ? (addr.includes(":") ? 128 : 32) : Number(len);
    if (l < this.length) return false;
    if (addr.includes(":")) {
      if (this.family !== 6) return false;
      return ipaddr.IPv6.parse(addr).match(this.v6!, this.length);
    }
    if (this.family !== 4) return false;
    const n = v4Int(addr);
    return n !== undefined && n - (n % 2 ** (32 - this.length)) === this.base;
  }
}
