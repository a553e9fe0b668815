// The rule model rendered as iptables-save prints a rule (without `-A <chain>`):
// basic matches (-s -d -i -o -p), the comment, the other matches in the order
// they were added, the target. What we write reads like what we read back.

import { flat, HASH_PREFIX } from "../model/hash.js";
import { type Action, hex, type Match, type MatchTerm, type PortRange, type Rule } from "../model/rule.js";
import type { RuleRenderer } from "../model/rule-renderer.js";
import type { RenderedRule } from "../model/tables.js";
import { probabilityText } from "./statistic.js";

export const IPTABLES_RULES: RuleRenderer = {
  name: "iptables",
  contextFree: true,
  bodiesListed: true,
  body: (r) => ruleBody(r),
  rendered: (r, body, hash) => renderedRule(r, body, hash),
};

/** The rule text without the hash comment; the input of the hash. */
export function ruleBody(r: Rule): string {
  let s = basicOf(r.match);
  if (r.comment !== undefined) s = join(s, `-m comment --comment ${quote(r.comment)}`);
  for (const t of r.match.terms) s = join(s, termText(t));
  return join(s, actionText(r.action));
}

/**
 * The rule with the hash comment after the basic matches. The text is
 * flattened and the hash is a slice of it, so a kept rule costs one flat
 * string: a rope of concatenated parts costs about four times as much heap,
 * and hundreds of thousands of rules are kept at scale.
 */
export function renderedRule(r: Rule, body: string, hash: string): RenderedRule {
  const basic = basicOf(r.match);
  const tail = basic ? body.slice(basic.length + 1) : body;
  const head = basic ? `${basic} ${HASH_COMMENT}` : HASH_COMMENT;
  const text = flat(tail ? `${head}${hash}" ${tail}` : `${head}${hash}"`);
  const at = head.length;
  return { text, hash: text.slice(at, at + hash.length) };
}

// The hash needs no escaping: base64url has no quote or backslash.
const HASH_COMMENT = `-m comment --comment "${HASH_PREFIX}`;

const join = (a: string, b: string) => (!b ? a : a ? `${a} ${b}` : b);

// The last match's basic text: renderedRule follows ruleBody on the same rule
// (ChainRenderer.renderRules), and a service's rules share matches. Matches
// are immutable, so the identity decides.
let lastMatch: Match | undefined;
let lastBasic = "";

/** `-s -d -i -o -p`, in iptables-save's order. */
function basicOf(m: Match): string {
  if (m === lastMatch) return lastBasic;
  let s = "";
  if (m.src) s = `${m.src.negate ? "! " : ""}-s ${m.src.cidr}`;
  if (m.dst) s = join(s, `${m.dst.negate ? "! " : ""}-d ${m.dst.cidr}`);
  if (m.inIface !== undefined) s = join(s, `-i ${m.inIface}`);
  if (m.outIface !== undefined) s = join(s, `-o ${m.outIface}`);
  if (m.protocol !== undefined) s = join(s, `${m.protocolNegate ? "! " : ""}-p ${m.protocol}`);
  lastMatch = m;
  lastBasic = s;
  return s;
}

const portsText = (ports: readonly PortRange[]) =>
  ports.map((p) => (p.first === p.last ? `${p.first}` : `${p.first}:${p.last}`)).join(",");

const RECENT_MASK = { 4: "255.255.255.255", 6: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" } as const;

function termText(t: MatchTerm): string {
  switch (t.kind) {
    case "ipSet":
      return `-m set ${t.negate ? "! " : ""}--match-set ${t.name} ${t.dir}`;
    case "multiport":
      return `-m multiport ${t.negate ? "! " : ""}--${t.dir === "dst" ? "dports" : "sports"} ${portsText(t.ports)}`;
    case "port":
      return `-m ${t.proto} --${t.dir === "dst" ? "dport" : "sport"} ${t.port}`;
    case "mark":
      return `-m mark ${t.negate ? "! " : ""}--mark ${hex(t.mark)}/${hex(t.mask)}`;
    case "ctState":
      return `-m conntrack ${t.negate ? "! " : ""}--ctstate ${t.states.join(",")}`;
    case "ctStatus":
      return `-m conntrack ${t.negate ? "! " : ""}--ctstate ${t.status}`;
    case "addrType":
      return `-m addrtype ${t.negate ? "! " : ""}--${t.dir}-type ${t.type}${t.limitIfaceOut ? " --limit-iface-out" : ""}`;
    case "icmpv6Type":
      return `-m icmp6 --icmpv6-type ${t.type}`;
    case "icmpType": {
      const tc = t.code === undefined ? `${t.type}` : `${t.type}/${t.code}`;
      const not = t.negate ? "! " : "";
      return t.family === 4 ? `-m icmp ${not}--icmp-type ${tc}` : `-m icmp6 ${not}--icmpv6-type ${tc}`;
    }
    case "random":
      return `-m statistic --mode random --probability ${probabilityText(t.oneOf)}`;
    case "recent":
      return t.op === "rcheck"
        ? `-m recent --rcheck --seconds ${t.seconds} --reap --name ${t.name} --mask ${RECENT_MASK[t.family]} --rsource`
        : `-m recent --set --name ${t.name} --mask ${RECENT_MASK[t.family]} --rsource`;
    case "rpfFailed":
      return "-m rpfilter --validmark --invert";
  }
}

const rangeText = (p: PortRange) => `${p.first}-${p.last}`;

function actionText(a: Action): string {
  switch (a.kind) {
    case "verdict":
      return `-j ${a.verdict}`;
    case "jump":
      return `-j ${a.chain}`;
    case "goto":
      return `-g ${a.chain}`;
    case "setMark":
      return `-j MARK --set-xmark ${hex(a.value)}/${hex(a.mask)}`;
    case "reject":
      return `-j REJECT --reject-with ${a.with}`;
    case "masquerade":
      return `-j MASQUERADE${a.toPorts ? ` --to-ports ${rangeText(a.toPorts)}` : ""}${a.randomFully ? " --random-fully" : ""}`;
    case "snat":
      return `-j SNAT --to-source ${a.toAddress}${a.toPorts ? `:${rangeText(a.toPorts)}` : ""}${a.randomFully ? " --random-fully" : ""}`;
    case "dnat":
      return `-j DNAT --to-destination ${a.toAddress.includes(":") ? `[${a.toAddress}]` : a.toAddress}:${a.toPort}`;
    case "notrack":
      return "-j NOTRACK";
    case "log":
      return `-j LOG --log-prefix ${quote(`${a.prefix}: `)} --log-level 5`;
    case "nflog":
      return `-j NFLOG --nflog-prefix ${quote(a.prefix)} --nflog-group ${a.group}`;
    case "none":
      return "";
    case "vmap":
    case "randomGoto":
    case "setUpdate":
      // kube-proxy's nftables layout (FELIX_PROXYMODE=nftables) has no iptables form.
      throw new Error(`iptables: ${a.kind} (an nft verdict map or dynamic set) has no iptables rendering`);
  }
}

/** Quotes as iptables-save does: bare when alphanumeric, else in double quotes. */
export function quote(s: string): string {
  // A service's rules (tens per port at start-up) carry one comment: the last quoting is kept.
  if (s === lastQuoted) return lastQuote;
  lastQuoted = s;
  lastQuote = quoteText(s);
  return lastQuote;
}

let lastQuoted: string | undefined;
let lastQuote = "";

function quoteText(s: string): string {
  if (ALNUM.test(s)) return s;
  if (!s.includes('"') && !s.includes("\\")) return `"${s}"`;
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

const ALNUM = /^[A-Za-z0-9]+$/;
