// The rule model rendered as one nft rule statement, the way `nft list`
// prints it (Felix's felix/nftables renderings where they fit), ending in
// `comment "cali:<hash>"`. The contract with the kernel side is in README.md:
// chain X of iptables table T is chain `T-X` of table `ip|ip6 calico`, and an
// ipset is the nft set nftSetName(ipset). What nft cannot express throws
// NftUnsupportedError instead of being rendered as something else.

import { flat, HASH_PREFIX } from "../model/hash.js";
import { NAT_SHARDS } from "../model/nat-shards.js";
import type { Action, CtState, Match, MatchTerm, PortRange, Rule } from "../model/rule.js";
import type { RuleContext, RuleRenderer } from "../model/rule-renderer.js";
import type { RenderedRule } from "../model/tables.js";
import { nftSetName } from "./names.js";

export class NftUnsupportedError extends Error {
  constructor(what: string) {
    super(`nftables: ${what} has no nft rendering`);
    this.name = "NftUnsupportedError";
  }
}

export const NFT_RULES: RuleRenderer = {
  name: "nftables",
  contextFree: false,
  natShards: NAT_SHARDS,
  body: (r, ctx) => nftRuleBody(r, ctx),
  rendered: (_r, body, hash) => nftRenderedRule(body, hash),
};

/**
 * The statement without its comment: the hash input. The rule's own comment
 * (iptables' second `-m comment`) is left out: nft allows one comment per
 * rule, of at most 128 bytes, and it holds the hash.
 */
export function nftRuleBody(r: Rule, ctx: RuleContext): string {
  const parts = matchParts(r.match, ctx);
  if (!r.uncounted && counted(r.action)) parts.push("counter");
  const a = actionText(r.action, r.match, ctx);
  if (a) parts.push(a);
  return parts.join(" ");
}

/**
 * Felix's renderer puts a `counter` before every rule's action (what
 * `felix-dump hits --live` reads); a rule without one is itself a `counter`.
 * kube-proxy's rules (Rule.uncounted) and its dispatch statements
 * (verdict-map lookups, numgen maps, affinity updates) carry none, as
 * kube-proxy renders them.
 */
function counted(a: Action): boolean {
  return a.kind !== "none" && a.kind !== "vmap" && a.kind !== "randomGoto" && a.kind !== "setUpdate";
}

export function nftRenderedRule(body: string, hash: string): RenderedRule {
  const head = body ? `${body} comment "${HASH_PREFIX}` : `comment "${HASH_PREFIX}`;
  const text = flat(`${head}${hash}"`);
  return { text, hash: text.slice(head.length, head.length + hash.length) };
}

const ip = (ctx: RuleContext) => (ctx.family === 4 ? "ip" : "ip6");

/** Interface names: iptables' `cali+` wildcard is nft's `cali*`. */
function ifaceText(name: string): string {
  if (!/^[A-Za-z0-9_.:@-]+\+?$/.test(name)) throw new NftUnsupportedError(`interface name ${JSON.stringify(name)}`);
  return `"${name.endsWith("+") ? `${name.slice(0, -1)}*` : name}"`;
}

const ADDRESS = /^[0-9A-Fa-f.:]+(\/\d{1,3})?$/;

function netText(cidr: string, ctx: RuleContext): string {
  if (!ADDRESS.test(cidr)) throw new NftUnsupportedError(`address ${JSON.stringify(cidr)}`);
  if (cidr.includes(":") !== (ctx.family === 6)) {
    throw new NftUnsupportedError(`an IPv${ctx.family === 4 ? 6 : 4} address (${cidr}) in the ${ip(ctx)} table`);
  }
  // A host is listed without its prefix length.
  const host = ctx.family === 4 ? "/32" : "/128";
  return cidr.endsWith(host) ? cidr.slice(0, -host.length) : cidr;
}

const TRANSPORT = new Set(["tcp", "udp", "sctp", "udplite", "dccp"]);

function matchParts(m: Match, ctx: RuleContext): string[] {
  const out: string[] = [];
  if (m.src) out.push(`${ip(ctx)} saddr ${m.src.negate ? "!= " : ""}${netText(m.src.cidr, ctx)}`);
  if (m.dst) out.push(`${ip(ctx)} daddr ${m.dst.negate ? "!= " : ""}${netText(m.dst.cidr, ctx)}`);
  if (m.inIface !== undefined) out.push(`iifname ${ifaceText(m.inIface)}`);
  if (m.outIface !== undefined) out.push(`oifname ${ifaceText(m.outIface)}`);
  if (m.protocol !== undefined) {
    if (!/^[a-z0-9-]+$/.test(m.protocol)) throw new NftUnsupportedError(`protocol ${JSON.stringify(m.protocol)}`);
    if (m.protocolNegate) out.push(`meta l4proto != ${m.protocol}`);
    else if (!protocolImplied(m)) out.push(`meta l4proto ${m.protocol}`);
  }
  for (const t of m.terms) out.push(termText(t, m, ctx));
  return out;
}

/**
 * Whether a later match already implies the protocol (`tcp dport`, an
 * ip,port set keyed on `tcp dport`, `icmpv6 type`): nft adds the
 * `meta l4proto` itself and lists the rule without it.
 */
function protocolImplied(m: Match): boolean {
  const p = m.protocol;
  if (p === "ipv6-icmp") {
    return m.terms.some((t) => t.kind === "icmpv6Type" || (t.kind === "icmpType" && t.family === 6));
  }
  if (p === "icmp") return m.terms.some((t) => t.kind === "icmpType" && t.family === 4);
  if (p === undefined || !TRANSPORT.has(p)) return false;
  return m.terms.some(
    (t) => t.kind === "multiport" || t.kind === "port" || (t.kind === "ipSet" && t.dir.startsWith("dst,dst")),
  );
}

/** `tcp dport` when the rule names a port protocol, else the transport header's `th dport`. */
function portHeader(m: Match, dir: "src" | "dst"): string {
  const field = dir === "dst" ? "dport" : "sport";
  if (m.protocol !== undefined && TRANSPORT.has(m.protocol)) return `${m.protocol} ${field}`;
  if (m.protocol === undefined) throw new NftUnsupportedError("a port match without a protocol");
  return `th ${field}`;
}

const rangeText = (p: PortRange) => (p.first === p.last ? `${p.first}` : `${p.first}-${p.last}`);

function portsText(ports: readonly PortRange[]): string {
  return ports.length === 1 ? rangeText(ports[0]) : `{ ${ports.map(rangeText).join(", ")} }`;
}

/** nft lists conntrack states in the order of their bits. */
const CT_ORDER: readonly CtState[] = ["INVALID", "ESTABLISHED", "RELATED", "NEW", "UNTRACKED"];

/** ICMPv6 types by the names nft lists them with. */
export const ICMPV6_TYPES: Readonly<Record<number, string>> = {
  1: "destination-unreachable",
  2: "packet-too-big",
  3: "time-exceeded",
  4: "parameter-problem",
  128: "echo-request",
  129: "echo-reply",
  130: "mld-listener-query",
  131: "mld-listener-report",
  132: "mld-listener-done",
  133: "nd-router-solicit",
  134: "nd-router-advert",
  135: "nd-neighbor-solicit",
  136: "nd-neighbor-advert",
  137: "nd-redirect",
};

/** ICMP types and codes by the names nft lists them with (others are numbers). */
export const ICMP_TYPES: Readonly<Record<number, string>> = {
  0: "echo-reply",
  3: "destination-unreachable",
  4: "source-quench",
  5: "redirect",
  8: "echo-request",
  9: "router-advertisement",
  10: "router-solicitation",
  11: "time-exceeded",
  12: "parameter-problem",
  13: "timestamp-request",
  14: "timestamp-reply",
  15: "info-request",
  16: "info-reply",
  17: "address-mask-request",
  18: "address-mask-reply",
};
export const ICMP_CODES: Readonly<Record<number, string>> = {
  0: "net-unreachable",
  1: "host-unreachable",
  2: "prot-unreachable",
  3: "port-unreachable",
  4: "frag-needed",
  9: "net-prohibited",
  10: "host-prohibited",
  13: "admin-prohibited",
};
export const ICMPV6_CODES: Readonly<Record<number, string>> = {
  0: "no-route",
  1: "admin-prohibited",
  3: "addr-unreachable",
  4: "port-unreachable",
  5: "policy-fail",
  6: "reject-route",
};

/** `icmp type … [icmp code …]`; negated with a code, a concatenation against a one-element set (nft's form). */
function icmpText(t: Extract<MatchTerm, { kind: "icmpType" }>, ctx: RuleContext): string {
  if (ctx.family !== t.family)
    throw new NftUnsupportedError(`an ICMPv${t.family === 4 ? 4 : 6} type in the ${ip(ctx)} table`);
  const [proto, types, codes] =
    t.family === 4 ? ["icmp", ICMP_TYPES, ICMP_CODES] : ["icmpv6", ICMPV6_TYPES, ICMPV6_CODES];
  const type = types[t.type] ?? String(t.type);
  if (t.code === undefined) return `${proto} type ${t.negate ? "!= " : ""}${type}`;
  const code = codes[t.code] ?? String(t.code);
  if (t.negate) return `${proto} type . ${proto} code != { ${type} . ${code} }`;
  return `${proto} type ${type} ${proto} code ${code}`;
}

/** n when `mask` is n one bits followed by zeros, else 0. */
function leadingOnes(mask: number): number {
  const m = mask >>> 0;
  const len = Math.clz32(~m);
  return len > 0 && (len === 32 || m << len === 0) ? len : 0;
}

const hex8 = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;

function termText(t: MatchTerm, m: Match, ctx: RuleContext): string {
  const v = ip(ctx);
  switch (t.kind) {
    case "ipSet": {
      // The port of an ip,port set is the rule protocol's when it has one (as nft lists it).
      const port = m.protocol !== undefined && TRANSPORT.has(m.protocol) ? `${m.protocol} dport` : "th dport";
      const key =
        t.dir === "src"
          ? `${v} saddr`
          : t.dir === "dst"
            ? `${v} daddr`
            : t.dir === "dst,dst"
              ? `${v} daddr . meta l4proto . ${port}`
              : `${v} daddr . meta l4proto . ${port} . ${v} saddr`;
      return `${key} ${t.negate ? "!= " : ""}@${nftSetName(t.name)}`;
    }
    case "multiport":
      return `${portHeader(m, t.dir)} ${t.negate ? "!= " : ""}${portsText(t.ports)}`;
    case "port":
      if (m.protocol !== t.proto) throw new NftUnsupportedError(`a ${t.proto} port on a ${m.protocol ?? "any"} rule`);
      return `${t.proto} ${t.dir === "dst" ? "dport" : "sport"} ${t.port}`;
    case "mark": {
      // A mask of leading ones is listed as a prefix length.
      const len = leadingOnes(t.mask);
      if (len > 0 && len < 32) return `meta mark ${t.negate ? "!= " : ""}${hex8(t.mark)}/${len}`;
      return `meta mark & ${hex8(t.mask)} ${t.negate ? "!=" : "=="} ${hex8(t.mark)}`;
    }
    case "ctState": {
      const states = CT_ORDER.filter((s) => t.states.includes(s))
        .map((s) => s.toLowerCase())
        .join(",");
      const dnat = t.states.includes("DNAT");
      if (!t.negate) {
        // "in one of these states, or DNATed" is no conjunction of nft expressions.
        if (dnat) throw new NftUnsupportedError("the conntrack DNAT state among others");
        return `ct state ${states}`;
      }
      // Neither in these states nor DNATed: bit tests, as nft lists them.
      return [states ? `ct state ! ${states}` : "", dnat ? "ct status ! dnat" : ""].filter(Boolean).join(" ");
    }
    case "ctStatus":
      return `ct status ${t.negate ? "! " : ""}${t.status.toLowerCase()}`;
    case "addrType": {
      const key = t.dir === "src" ? (t.limitIfaceOut ? "fib saddr . oif" : "fib saddr") : "fib daddr";
      return `${key} type ${t.negate ? "!= " : ""}${t.type.toLowerCase()}`;
    }
    case "icmpv6Type":
      if (ctx.family !== 6) throw new NftUnsupportedError("an ICMPv6 type in the ip table");
      return `icmpv6 type ${ICMPV6_TYPES[t.type] ?? t.type}`;
    case "icmpType":
      return icmpText(t, ctx);
    case "random":
      // One packet in n: a uniform number below n that is 0.
      return `numgen random mod ${t.oneOf} 0`;
    case "recent":
      // kube-proxy's nftables mode keeps session affinity in per-endpoint
      // sets with timeouts; that needs sets the kernel side declares.
      throw new NftUnsupportedError(`session affinity (xt_recent --${t.op} ${t.name})`);
    case "rpfFailed":
      return "fib saddr . mark . iif oif 0";
  }
}

/** An address, with a port if given (the address bracketed then when IPv6). */
function hostPort(addr: string, port: string): string {
  if (!ADDRESS.test(addr)) throw new NftUnsupportedError(`address ${JSON.stringify(addr)}`);
  if (!port) return addr;
  return addr.includes(":") ? `[${addr}]:${port}` : `${addr}:${port}`;
}

function actionText(a: Action, m: Match, ctx: RuleContext): string {
  switch (a.kind) {
    case "verdict":
      return a.verdict.toLowerCase();
    case "jump":
      return `jump ${ctx.table}-${a.chain}`;
    case "goto":
      return `goto ${ctx.table}-${a.chain}`;
    case "setMark": {
      // mark := (mark & ~mask) | value, as nft lists it.
      // nft folds the value's bits into the AND mask when it lists it.
      const keep = ~a.mask >>> 0;
      if (a.value === a.mask) return `meta mark set meta mark | ${hex8(a.value)}`;
      if (a.value === 0) return `meta mark set meta mark & ${hex8(keep)}`;
      return `meta mark set meta mark & ${hex8((keep | a.value) >>> 0)} | ${hex8(a.value)}`;
    }
    case "reject":
      // The family's default: ICMP(v6) port unreachable, which nft lists as a bare `reject`.
      return "reject";
    case "masquerade":
      if (a.toPorts && !(m.protocol && TRANSPORT.has(m.protocol))) {
        throw new NftUnsupportedError("MASQUERADE to ports without a port protocol");
      }
      return `masquerade${a.toPorts ? ` to :${rangeText(a.toPorts)}` : ""}${a.randomFully ? " fully-random" : ""}`;
    case "snat": {
      if (a.toPorts && !(m.protocol && TRANSPORT.has(m.protocol))) {
        throw new NftUnsupportedError("SNAT to ports without a port protocol");
      }
      const to = hostPort(a.toAddress, a.toPorts ? rangeText(a.toPorts) : "");
      return `snat to ${to}${a.randomFully ? " fully-random" : ""}`;
    }
    case "dnat":
      if (!(m.protocol && TRANSPORT.has(m.protocol)))
        throw new NftUnsupportedError("DNAT to a port without a port protocol");
      return `dnat to ${hostPort(a.toAddress, String(a.toPort))}`;
    case "notrack":
      return "notrack";
    case "nflog":
      if (!/^[A-Za-z0-9|:_.-]*$/.test(a.prefix))
        throw new NftUnsupportedError(`nflog prefix ${JSON.stringify(a.prefix)}`);
      return `log prefix "${a.prefix}" group ${a.group}`;
    case "log":
      // Checked where it is configured; here too, as it goes inside nft's quotes.
      if (!/^[A-Za-z0-9 :/_.%-]*$/.test(a.prefix))
        throw new NftUnsupportedError(`log prefix ${JSON.stringify(a.prefix)}`);
      return `log prefix "${a.prefix}: " level notice`;
    case "none":
      // A rule without a target only counts packets; nft needs a statement for that.
      return "counter";
    case "vmap": {
      // kube-proxy's dispatch: one lookup instead of one rule per service.
      const key =
        a.key === "daddr.proto.dport" ? `${ip(ctx)} daddr . meta l4proto . th dport` : "meta l4proto . th dport";
      return `${key} vmap @${nftObjectName(a.map)}`;
    }
    case "randomGoto": {
      // As kube-proxy picks an endpoint: element i of a uniform number below N.
      const arms = a.chains.map((c, i) => `${i} : goto ${ctx.table}-${c}`);
      return `numgen random mod ${a.chains.length} vmap { ${arms.join(", ")} }`;
    }
    case "setUpdate":
      return `update @${nftObjectName(a.set)} { ${ip(ctx)} saddr }`;
  }
}

/** A map or set name inside a rule: one token of nft's identifier alphabet, or no rendering. */
function nftObjectName(name: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_./-]{0,254}$/.test(name)) throw new NftUnsupportedError(`set name ${JSON.stringify(name)}`);
  return name;
}
