// Policy and profile rules → iptables rules. A policy chain holds rules only;
// its verdict travels in the accept mark, which the endpoint chain acts on.

import { Actions, type MatchBuilder, match, type Rule, rule } from "../../model/rule.js";
import { familyOf } from "../conversion/cidr.js";
import { ipSetName, namedPortSet, selectorSet } from "../ipsets/ids.js";
import type { IpVersion, PeerMatch, PolicyRule, PortMatch, PortRange } from "../model.js";
import { DEFAULT_FILTER_ACTIONS, denyAction, type FilterActions } from "./filter-actions.js";

const onlyFamily = (nets: readonly string[] | undefined, v: IpVersion) => nets?.filter((n) => familyOf(n) === v);

const isZeroPrefix = (cidr: string) => cidr.endsWith("/0");

export function portsText(ports: readonly PortRange[]): string {
  return ports.map((p) => (p.first === p.last ? `${p.first}` : `${p.first}:${p.last}`)).join(",");
}

/**
 * Renders Calico rules for one IP family. Rules whose CIDRs are all of the
 * other family are dropped, as they cannot match there.
 */
export function renderPolicyRules(
  rules: readonly PolicyRule[],
  v: IpVersion,
  actions: FilterActions = DEFAULT_FILTER_ACTIONS,
): Rule[] {
  const out: Rule[] = [];
  for (const r of rules) out.push(...renderOne(r, v, actions));
  return out;
}

function renderOne(r: PolicyRule, v: IpVersion, actions: FilterActions): Rule[] {
  const { accept: MARK_ACCEPT, scratch0: MARK_SCRATCH0, scratch1: MARK_SCRATCH1 } = actions.marks;
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
  const action = r.action === "deny" ? denyAction(actions, v) : Actions.setMark(MARK_ACCEPT);
  // The port block: one rule per alternative, each carrying the whole match.
  for (const port of r.anyPort ?? [undefined]) {
    const m = match();
    peerMatch(m, r, v);
    if (port) portMatch(m, port, v);
    portMatch(m, r, v);
    if (needsMark) m.mark(MARK_SCRATCH0, MARK_SCRATCH0);
    out.push(rule(m.build(), action));
  }
  if (r.action !== "deny") out.push(rule(match().mark(MARK_ACCEPT, MARK_ACCEPT).build(), Actions.return));
  return out;
}

/**
 * Adds a peer's nets and sets to `m`; returns the matches of its excepted
 * nets, or undefined when the peer cannot match in family `v`.
 */
function peerMatch(m: MatchBuilder, p: PeerMatch, v: IpVersion): MatchBuilder[] | undefined {
  const srcNets = onlyFamily(p.srcNets, v);
  const dstNets = onlyFamily(p.dstNets, v);
  if (srcNets?.length === 0 || dstNets?.length === 0) return undefined;
  // A /0 matches every address of the family; iptables-save omits it, so do we.
  if (srcNets && !isZeroPrefix(srcNets[0])) m.sourceNet(srcNets[0]);
  if (dstNets && !isZeroPrefix(dstNets[0])) m.destNet(dstNets[0]);
  if (p.srcSelector) m.ipSet(ipSetName(selectorSet(p.srcSelector).id, v), "src");
  if (p.dstSelector) m.ipSet(ipSetName(selectorSet(p.dstSelector).id, v), "dst");
  return [
    ...(onlyFamily(p.srcNotNets, v) ?? []).map((n) => match().sourceNet(n)),
    ...(onlyFamily(p.dstNotNets, v) ?? []).map((n) => match().destNet(n)),
  ];
}

function portMatch(m: MatchBuilder, p: PortMatch, v: IpVersion): void {
  if (p.protocol) m.protocol(p.protocol);
  if (p.dstNamedPort !== undefined && p.protocol && p.namedPortSelector) {
    m.ipSet(ipSetName(namedPortSet(p.namedPortSelector, p.protocol, p.dstNamedPort).id, v), "dst,dst");
  }
  if (p.dstPorts?.length) m.destPorts(portsText(p.dstPorts));
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
