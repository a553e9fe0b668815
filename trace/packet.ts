// The packet a trace follows and how one typed match (model/rule.ts) judges it.
// The packet is the first of a new connection: conntrack state NEW (and DNAT
// on the node that destination-NATed it). Matches that depend on chance or on
// history (a random share, an affinity entry) are not decided here: they are
// reported to the walker, which follows both ways.

import ipaddr from "ipaddr.js";
import type { VerdictMapState } from "../model/nft-objects.js";
import type { Match, MatchTerm } from "../model/rule.js";

export type TraceProtocol = "tcp" | "udp" | "sctp";

export interface TracePacket {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly protocol: TraceProtocol;
}

/** A packet on its way through one node's tables. */
export interface PacketState extends TracePacket {
  readonly mark: number;
  readonly inIface?: string;
  readonly outIface?: string;
  /** This node destination-NATed the connection (conntrack state DNAT). */
  readonly dnated: boolean;
}

export interface NodeEnv {
  /** Addresses `addrtype LOCAL` matches on this node. */
  readonly localAddresses: ReadonlySet<string>;
  /** IP set (kernel) name → members as `ipset list` prints them. */
  readonly ipsets: ReadonlyMap<string, ReadonlySet<string>>;
  /** kube-proxy's nftables layout (FELIX_PROXYMODE=nftables): its verdict maps by name. */
  readonly maps?: ReadonlyMap<string, VerdictMapState>;
  /** Its affinity sets: what the kernel put there is history, so a match on one is a branch. */
  readonly affinitySets?: ReadonlySet<string>;
}

/** What a match says: yes, no, or "a branch" (random share, affinity). */
export type MatchResult =
  | { readonly kind: "yes" }
  | { readonly kind: "no" }
  | { readonly kind: "random"; readonly oneOf: number }
  | { readonly kind: "affinity"; readonly list: string };

const YES: MatchResult = { kind: "yes" };
const NO: MatchResult = { kind: "no" };

const PROTOCOL_NUMBERS: Readonly<Record<TraceProtocol, string>> = { tcp: "6", udp: "17", sctp: "132" };

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

// A trace evaluates the same few addresses and CIDRs (rule matches, IP set members)
// for every rule and every packet, and ipaddr's parseCIDR tries IPv6 first, failing
// with an exception on every IPv4 CIDR: parsed once, remembered here. Bounded, so a
// long-lived caller's memory does not grow with every address it ever traced.
const MEMO_LIMIT = 50_000;
const addrs = new Map<string, Addr | null>();
const nets = new Map<string, readonly [Addr, number] | null>();

function memo<T>(m: Map<string, T | null>, key: string, parse: (s: string) => T): T | null {
  let v = m.get(key);
  if (v === undefined) {
    try {
      v = parse(key);
    } catch {
      v = null;
    }
    if (m.size >= MEMO_LIMIT) m.clear();
    m.set(key, v);
  }
  return v;
}

export function inCidr(ip: string, cidrOrIp: string): boolean {
  const addr = memo(addrs, ip, ipaddr.parse);
  if (addr === null) return false;
  if (!cidrOrIp.includes("/")) {
    const other = memo(addrs, cidrOrIp, ipaddr.parse);
    return other !== null && addr.kind() === other.kind() && addr.match(other, addr.kind() === "ipv6" ? 128 : 32);
  }
  const net = memo(nets, cidrOrIp, ipaddr.parseCIDR);
  return net !== null && addr.kind() === net[0].kind() && addr.match(net[0], net[1]);
}

/** `cali+` matches any interface starting with `cali`; no interface matches nothing. */
export function ifaceMatches(pattern: string, iface: string | undefined): boolean {
  if (iface === undefined) return false;
  return pattern.endsWith("+") ? iface.startsWith(pattern.slice(0, -1)) : iface === pattern;
}

export function canonical(ip: string): string {
  return memo(addrs, ip, ipaddr.parse)?.toString() ?? ip;
}

function inSet(env: NodeEnv, name: string, dir: string, p: PacketState): boolean {
  const members = env.ipsets.get(name);
  if (!members) return false;
  const src = canonical(p.src);
  const dst = canonical(p.dst);
  if (dir === "dst,dst") return members.has(`${dst},${p.protocol}:${p.dport}`);
  if (dir === "dst,dst,src") return members.has(`${dst},${p.protocol}:${p.dport},${src}`);
  const ip = dir === "src" ? p.src : p.dst;
  for (const m of members) if (inCidr(ip, m)) return true;
  return false;
}

function termResult(t: MatchTerm, p: PacketState, env: NodeEnv): MatchResult | boolean {
  switch (t.kind) {
    case "ipSet":
      // An affinity set holds the clients the kernel saw: like an xt_recent check.
      if (env.affinitySets?.has(t.name) && !t.negate) return { kind: "affinity", list: t.name };
      return inSet(env, t.name, t.dir, p) !== t.negate;
    case "multiport": {
      const port = t.dir === "dst" ? p.dport : p.sport;
      return t.ports.some((r) => port >= r.first && port <= r.last) !== t.negate;
    }
    case "port":
      return t.proto === p.protocol && (t.dir === "dst" ? p.dport : p.sport) === t.port;
    case "mark":
      return (((p.mark & t.mask) >>> 0 === t.mark >>> 0) as boolean) !== t.negate;
    case "ctState": {
      const inState = t.states.includes("NEW") || (t.states.includes("DNAT") && p.dnated);
      return inState !== t.negate;
    }
    case "ctStatus":
      return p.dnated !== t.negate;
    case "addrType":
      return env.localAddresses.has(canonical(t.dir === "src" ? p.src : p.dst)) !== t.negate;
    case "icmpv6Type":
      return false; // the traced packets are TCP, UDP or SCTP
    case "icmpType":
      return t.negate;
    case "random":
      return t.oneOf === 1 ? true : { kind: "random", oneOf: t.oneOf };
    case "recent":
      // Recording the client (op set) always matches; a check depends on history.
      return t.op === "set" ? true : { kind: "affinity", list: t.name };
    case "rpfFailed":
      return false; // the traced source is the client's own address
  }
}

/** Whether `m` matches `p`; at most one branching term is expected per rule (as we render them). */
export function evalMatch(m: Match, p: PacketState, env: NodeEnv): MatchResult {
  if (m.src && inCidr(p.src, m.src.cidr) === m.src.negate) return NO;
  if (m.dst && inCidr(p.dst, m.dst.cidr) === m.dst.negate) return NO;
  if (m.inIface !== undefined && !ifaceMatches(m.inIface, p.inIface)) return NO;
  if (m.outIface !== undefined && !ifaceMatches(m.outIface, p.outIface)) return NO;
  if (m.protocol !== undefined) {
    const same = m.protocol === p.protocol || m.protocol === PROTOCOL_NUMBERS[p.protocol];
    if (same === Boolean(m.protocolNegate)) return NO;
  }
  let branch: MatchResult | undefined;
  for (const t of m.terms) {
    const r = termResult(t, p, env);
    if (r === false) return NO;
    if (r !== true) branch = r;
  }
  return branch ?? YES;
}
