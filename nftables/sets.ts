// IP sets as nft sets: the set's type line and each member as nft writes an
// element. ipset members (`10.0.0.0/24`, `10.0.0.1,tcp:80`, `…,tcp:80,10.1.0.0/16`)
// become `10.0.0.0/24`, `10.0.0.1 . tcp . 80`, `… . tcp . 80 . 10.1.0.0/16`.
//
// A hash:net set is an interval set only while it holds a CIDR: nft (1.0.6)
// reads every interval set's elements of the table before any element
// command, so each set change costs in proportion to all the interval sets'
// elements (at 20k elements ~30-45 ms against ~10-15 ms with address sets).
// Most selector sets hold pod addresses only; one that gains or loses its
// last CIDR is re-created (with the chains using it) in one transaction.
//
// An interval set refuses overlapping elements ("interval overlaps with an
// existing one") where hash:net keeps both, so a member covered by another
// (a pod /32 inside an ipBlock) is left out: the set matches the same
// addresses. The kept elements are what the kernel holds and what we diff.

import ipaddr from "ipaddr.js";
import type { IpSetState, IpSetType } from "../model/ipset.js";
import { nftSetName } from "./names.js";

export interface NftSetSpec {
  readonly name: string;
  /** As `nft list` prints it: `ipv4_addr`, `ipv4_addr . inet_proto . inet_service`. */
  readonly type: string;
  readonly interval: boolean;
}

export class NftElementError extends Error {}

const PROTOS = new Set(["tcp", "udp", "sctp"]);

export function nftSetSpec(s: IpSetState): NftSetSpec {
  return converted(s).spec;
}

function specOf(s: IpSetState, hasPrefix: boolean): NftSetSpec {
  const addr = s.family === 4 ? "ipv4_addr" : "ipv6_addr";
  const byType: Record<IpSetType, { type: string; interval: boolean }> = {
    "hash:net": { type: addr, interval: hasPrefix },
    "hash:ip,port": { type: `${addr} . inet_proto . inet_service`, interval: false },
    "hash:ip,port,ip": { type: `${addr} . inet_proto . inet_service . ${addr}`, interval: false },
    "hash:ip,port,net": { type: `${addr} . inet_proto . inet_service . ${addr}`, interval: true },
  };
  const t = byType[s.type];
  if (!t) throw new NftElementError(`IP set ${s.name}: type ${s.type} has no nft equivalent`);
  return { name: nftSetName(s.name), ...t };
}

const OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const CANONICAL_V4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** An address or CIDR of the family as nft prints it (`/32`, `/128` dropped); throws on anything else. */
export function nftAddress(text: string, family: 4 | 6, prefixOk: boolean): string {
  // Most members are dotted quads already in nft's form: no parse, no new string.
  if (family === 4 && CANONICAL_V4.test(text)) return text;
  const [ip, len, extra] = text.split("/");
  const kind = family === 4 ? "ipv4" : "ipv6";
  if (extra !== undefined || !ipaddr.isValid(ip) || ipaddr.parse(ip).kind() !== kind) {
    throw new NftElementError(`${JSON.stringify(text)} is not an IPv${family} address`);
  }
  const addr = ipaddr.parse(ip).toString();
  const full = family === 4 ? 32 : 128;
  if (len === undefined || Number(len) === full) return addr;
  if (!prefixOk || !/^\d+$/.test(len) || Number(len) > full) {
    throw new NftElementError(`${JSON.stringify(text)}: a prefix where the set holds addresses`);
  }
  return `${addr}/${Number(len)}`;
}

/** One ipset member as an nft element of the set's type. */
export function nftElement(member: string, s: Pick<IpSetState, "type" | "family">): string {
  if (s.type === "hash:net") return nftAddress(member, s.family, true);
  const [ip, protoPort, third, ...rest] = member.split(",");
  const m = /^(tcp|udp|sctp):(\d{1,5})$/.exec(protoPort ?? "");
  if (!m || !PROTOS.has(m[1]) || Number(m[2]) > 65535 || rest.length > 0) {
    throw new NftElementError(`${JSON.stringify(member)} is not a member of a ${s.type} set`);
  }
  const head = `${nftAddress(ip, s.family, false)} . ${m[1]} . ${Number(m[2])}`;
  if (s.type === "hash:ip,port") {
    if (third !== undefined) throw new NftElementError(`${JSON.stringify(member)}: extra field in ${s.type}`);
    return head;
  }
  if (third === undefined) throw new NftElementError(`${JSON.stringify(member)}: missing field in ${s.type}`);
  return `${head} . ${nftAddress(third, s.family, s.type === "hash:ip,port,net")}`;
}

const cache = new WeakMap<IpSetState, { spec: NftSetSpec; elements: ReadonlySet<string> }>();

/**
 * The set's nft type and the elements the kernel holds for it (covered
 * members of an interval set left out), cached per snapshot object:
 * snapshots never change, and a set of thousands is converted once.
 */
function converted(s: IpSetState): { spec: NftSetSpec; elements: ReadonlySet<string> } {
  let out = cache.get(s);
  if (!out && s.type === "hash:net" && s.family === 4 && allCanonicalV4(s.members)) {
    // Most sets hold pod addresses only, already as nft writes them: the members are the elements.
    out = { spec: specOf(s, false), elements: s.members };
    cache.set(s, out);
  }
  if (!out) {
    const elems = [...s.members].map((m) => nftElement(m, s));
    const spec = specOf(s, s.type === "hash:net" && elems.some((e) => e.includes("/")));
    out = { spec, elements: new Set(spec.interval && s.type === "hash:net" ? uncovered(elems, s.family) : elems) };
    cache.set(s, out);
  }
  return out;
}

function allCanonicalV4(members: ReadonlySet<string>): boolean {
  for (const m of members) if (!CANONICAL_V4.test(m)) return false;
  return true;
}

export function nftElements(s: IpSetState): ReadonlySet<string> {
  return converted(s).elements;
}

/** Elements not inside another element (for one-field interval sets): sort by start, keep the non-nested. */
function uncovered(elems: readonly string[], family: 4 | 6): string[] {
  const full = family === 4 ? 32 : 128;
  const ranges = [...new Set(elems)].map((e) => {
    const [ip, len] = e.split("/");
    const bits = BigInt(len === undefined ? full : Number(len));
    const start = toBigInt(ip);
    return { e, start, end: start + (1n << (BigInt(full) - bits)) - 1n };
  });
  ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.end > b.end ? -1 : 1));
  const out: string[] = [];
  let end = -1n;
  for (const r of ranges) {
    if (r.start <= end) continue; // CIDRs nest or are disjoint: a later start inside means inside
    out.push(r.e);
    end = r.end;
  }
  return out;
}

function toBigInt(ip: string): bigint {
  return ipaddr
    .parse(ip)
    .toByteArray()
    .reduce((n, b) => (n << 8n) | BigInt(b), 0n);
}

/** Elements in the order `nft list` prints an interval set's: by address; others by text. */
export function sortElements(elems: Iterable<string>, interval: boolean): string[] {
  const list = [...elems];
  if (!interval) return list.sort();
  const key = new Map(list.map((e) => [e, toBigInt(e.split(/[/ ]/)[0])]));
  return list.sort((a, b) => {
    const x = key.get(a)!;
    const y = key.get(b)!;
    return x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0;
  });
}
