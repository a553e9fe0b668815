// Policy and profile rules → iptables rules. A policy chain holds rules only;
// its verdict travels in the accept mark, which the endpoint chain acts on.

import { Actions, type MatchBuilder, match, type Rule, rule } from "../../model/rule.js";
import { familyOf } from "../conversion/cidr.js";
import { ipSetName, namedPortSet, selectorSet } from "../ipsets/ids.js";
import {
  type IcmpMatch,
  type IpVersion,
  isPortProtocol,
  type PeerMatch,
  type PolicyRule,
  type PortMatch,
  type PortRange,
  type RuleProtocol,
} from "../model.js";
import { chainDir, dropLogRules } from "./drop-log.js";
import { DEFAULT_FILTER_ACTIONS, denyAction, type FilterActions } from "./filter-actions.js";

const onlyFamily = (nets: readonly string[] | undefined, v: IpVersion) => nets?.filter((n) => familyOf(n) === v);

const isZeroPrefix = (cidr: string) => cidr.endsWith("/0");

export function portsText(ports: readonly PortRange[]): string {
  return ports.map((p) => (p.first === p.last ? `${p.first}` : `${p.first}:${p.last}`)).join(",");
}

/** The default of FELIX_LOGPREFIX (Felix's). */
export const DEFAULT_LOG_PREFIX = "calico-packet";

/**
 * Protocol numbers as iptables-save prints them back (the names of a stock
 * /etc/protocols); others stay numbers. ICMPv6 is `ipv6-icmp`.
 */
const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  1: "icmp",
  2: "igmp",
  4: "ipencap",
  6: "tcp",
  17: "udp",
  41: "ipv6",
  47: "gre",
  50: "esp",
  51: "ah",
  58: "ipv6-icmp",
  89: "ospf",
  132: "sctp",
  136: "udplite",
};

export function protocolText(p: RuleProtocol): string {
  if (typeof p === "number") return PROTOCOL_NAMES[p] ?? String(p);
  return p === "icmpv6" ? "ipv6-icmp" : p;
}

/** Port ranges in multiport-sized chunks (15 slots; a range takes two), as Felix splits them. */
export function splitPorts(ranges: readonly PortRange[]): PortRange[][] {
  const chunks: PortRange[][] = [];
  let cur: PortRange[] = [];
  let slots = 0;
  for (const r of ranges) {
    const cost = r.first === r.last ? 1 : 2;
    if (slots + cost > 15) {
      chunks.push(cur);
      cur = [];
      slots = 0;
    }
    cur.push(r);
    slots += cost;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}

/**
 * Renders Calico rules for one IP family. Rules whose CIDRs are all of the
 * other family are dropped, as they cannot match there; a null (a rule failed
 * closed to match nothing) renders nothing but keeps its number.
 */
export function renderPolicyRules(
  rules: readonly (PolicyRule | null)[],
  v: IpVersion,
  actions: FilterActions = DEFAULT_FILTER_ACTIONS,
  logPrefix = DEFAULT_LOG_PREFIX,
  chain = "",
): Rule[] {
  const out: Rule[] = [];
  for (const [i, r] of rules.entries()) if (r) out.push(...renderOne(r, v, actions, logPrefix, { chain, index: i }));
  return out;
}

/** Where a rule is (its chain, its index in the policy): the drop log's prefix. */
interface RulePlace {
  readonly chain: string;
  readonly index: number;
}

function renderOne(r: PolicyRule, v: IpVersion, actions: FilterActions, logPrefix: string, at: RulePlace): Rule[] {
  const { accept: MARK_ACCEPT, pass: MARK_PASS, scratch0: MARK_SCRATCH0, scratch1: MARK_SCRATCH1 } = actions.marks;
  if (!inFamily(r, v)) return [];
  if (r.anyPeer) {
    // One alternative left in this family: a plain rule (Felix's, for one net per side), no peer block.
    const viable = r.anyPeer.filter((p) => peerMatch(match(), p, v) !== undefined);
    if (viable.length === 1) {
      const { anyPeer: _, ...own } = r;
      return renderOne({ ...own, ...viable[0] }, v, actions, logPrefix, at);
    }
  }
  const out: Rule[] = [];
  const except = peerMatch(match(), r, v);
  if (except === undefined) return [];
  // The peer block first: any peer sets scratch0, the rule then requires it.
  if (r.anyPeer) {
    if (except.length > 0) throw new Error("a rule with anyPeer cannot have its own except nets");
    const block = renderPeerBlock(r.anyPeer, v, actions);
    if (block.length === 0) return [];
    out.push(...block);
  } else if (except.length > 0) {
    // ipBlock.except: OR over the excepted CIDRs needs a mark. scratch0 starts
    // set, any excepted CIDR clears it, and the main rule requires it.
    out.push(rule(match().build(), Actions.setMaskedMark(MARK_SCRATCH0, MARK_SCRATCH0 | MARK_SCRATCH1)));
    for (const ex of except) out.push(rule(ex.build(), Actions.clearMark(MARK_SCRATCH0)));
  }
  const needsMark = r.anyPeer !== undefined || except.length > 0;
  // Felix's verdicts: allow and pass set their mark and return; deny drops;
  // log logs and lets the next rule see the packet.
  const verdict = r.action === "allow" ? MARK_ACCEPT : r.action === "pass" ? MARK_PASS : undefined;
  const action =
    r.action === "deny"
      ? denyAction(actions, v)
      : r.action === "log"
        ? Actions.log(logPrefix)
        : Actions.setMark(verdict!);
  // The port block: one rule per alternative, each carrying the whole match.
  for (const port of r.anyPort ?? [undefined]) {
    const m = match();
    peerMatch(m, r, v);
    if (port) portMatch(m, port, v);
    portMatch(m, r, v);
    negatedMatch(m, r, v);
    if (needsMark) m.mark(MARK_SCRATCH0, MARK_SCRATCH0);
    const built = m.build();
    if (r.action === "deny") {
      const owner = at.chain.startsWith("cali-pr") ? "R" : "P";
      out.push(...dropLogRules(actions, built, { owner, dir: chainDir(at.chain), index: at.index, chain: at.chain }));
    }
    out.push(rule(built, action));
  }
  if (verdict !== undefined) out.push(rule(match().mark(verdict, verdict).build(), Actions.return));
  return out;
}

/** Calico's ipVersion, and ICMP rules only in their own family. */
function inFamily(r: PolicyRule, v: IpVersion): boolean {
  if (r.ipVersion !== undefined && r.ipVersion !== v) return false;
  const p = r.protocol;
  if (p === "icmp" || p === 1) return v === 4;
  if (p === "icmpv6" || p === 58) return v === 6;
  return true;
}

/** The negated fields, after the positive ones (Felix's order). */
function negatedMatch(m: MatchBuilder, r: PolicyRule, v: IpVersion): void {
  if (r.notProtocol !== undefined) m.protocol(protocolText(r.notProtocol), true);
  for (const chunk of r.srcNotPorts?.length ? splitPorts(r.srcNotPorts) : []) m.sourcePorts(portsText(chunk), true);
  for (const chunk of r.dstNotPorts?.length ? splitPorts(r.dstNotPorts) : []) m.destPorts(portsText(chunk), true);
  if (r.dstNotNamedPorts && isPortProtocol(r.protocol) && r.namedPortSelector) {
    for (const name of r.dstNotNamedPorts) {
      m.ipSet(ipSetName(namedPortSet(r.namedPortSelector, r.protocol, name).id, v), "dst,dst", true);
    }
  }
  if (r.notIcmp) icmpMatch(m, r.notIcmp, v, true);
}

function icmpMatch(m: MatchBuilder, icmp: IcmpMatch, v: IpVersion, negate: boolean): void {
  m.icmpType(v, icmp.type, icmp.code, negate);
}

/**
 * Adds a peer's nets and sets to `m`; returns the matches of its excepted
 * nets, or undefined when the peer cannot match in family `v`.
 */
function peerMatch(m: MatchBuilder, p: PeerMatch, v: IpVersion): MatchBuilder[] | undefined {
  const srcNets = onlyFamily(p.srcNets, v);
  const dstNets = onlyFamily(p.dstNets, v);
  if (srcNets?.length === 0 || dstNets?.length === 0) return undefined;
  // Felix (FilterRuleToIPVersion): notNets all of the other family leave the rule out of this one.
  if (onlyFamily(p.srcNotNets, v)?.length === 0 || onlyFamily(p.dstNotNets, v)?.length === 0) return undefined;
  // A /0 matches every address of the family; iptables-save omits it, so do we.
  if (srcNets && !isZeroPrefix(srcNets[0])) m.sourceNet(srcNets[0]);
  if (dstNets && !isZeroPrefix(dstNets[0])) m.destNet(dstNets[0]);
  if (p.srcSelector) m.ipSet(ipSetName(selectorSet(p.srcSelector).id, v), "src");
  if (p.srcNotSelector) m.ipSet(ipSetName(selectorSet(p.srcNotSelector).id, v), "src", true);
  if (p.dstSelector) m.ipSet(ipSetName(selectorSet(p.dstSelector).id, v), "dst");
  if (p.dstNotSelector) m.ipSet(ipSetName(selectorSet(p.dstNotSelector).id, v), "dst", true);
  return [
    ...(onlyFamily(p.srcNotNets, v) ?? []).map((n) => match().sourceNet(n)),
    ...(onlyFamily(p.dstNotNets, v) ?? []).map((n) => match().destNet(n)),
  ];
}

function portMatch(m: MatchBuilder, p: PortMatch & Pick<PolicyRule, "srcPorts" | "icmp">, v: IpVersion): void {
  if (p.protocol !== undefined) m.protocol(protocolText(p.protocol));
  if (p.srcPorts?.length) m.sourcePorts(portsText(p.srcPorts));
  if (p.dstNamedPort !== undefined && isPortProtocol(p.protocol) && p.namedPortSelector) {
    m.ipSet(ipSetName(namedPortSet(p.namedPortSelector, p.protocol, p.dstNamedPort).id, v), "dst,dst");
  }
  if (p.dstPorts?.length) m.destPorts(portsText(p.dstPorts));
  if (p.icmp) icmpMatch(m, p.icmp, v, false);
}

/**
 * scratch0 cleared, then set by any peer that matches; a peer with excepted
 * nets computes "not excepted" in scratch1 first. Empty when no peer can
 * match in this family.
 */
function renderPeerBlock(peers: readonly PeerMatch[], v: IpVersion, actions: FilterActions): Rule[] {
  const { scratch0: MARK_SCRATCH0, scratch1: MARK_SCRATCH1 } = actions.marks;
  const out: Rule[] = [rule(match().build(), Actions.clearMark(MARK_SCRATCH0 | MARK_SCRATCH1))];
  for (const p of peers) {
    const m = match();
    const except = peerMatch(m, p, v);
    if (except === undefined) continue;
    if (except.length > 0) {
      out.push(rule(match().build(), Actions.setMark(MARK_SCRATCH1)));
      for (const ex of except) out.push(rule(ex.build(), Actions.clearMark(MARK_SCRATCH1)));
      m.mark(MARK_SCRATCH1, MARK_SCRATCH1);
    }
    out.push(rule(m.build(), Actions.setMark(MARK_SCRATCH0)));
  }
  return out.length === 1 ? [] : out;
}
