// Policy and profile rules → iptables rules. A policy chain holds rules only;
// its verdict travels in the accept mark, which the endpoint chain acts on.

import { Actions, match, type Rule, rule } from "../../iptables/rule.js";
import { familyOf } from "../conversion/cidr.js";
import { ipSetName, namedPortSet, selectorSet } from "../ipsets/ids.js";
import type { IpVersion, PolicyRule, PortRange } from "../model.js";
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
  const srcNets = onlyFamily(r.srcNets, v);
  const dstNets = onlyFamily(r.dstNets, v);
  if (srcNets?.length === 0 || dstNets?.length === 0) return [];
  const srcNot = onlyFamily(r.srcNotNets, v) ?? [];
  const dstNot = onlyFamily(r.dstNotNets, v) ?? [];

  const m = match();
  // A /0 matches every address of the family; iptables-save omits it, so do we.
  if (srcNets && !isZeroPrefix(srcNets[0])) m.sourceNet(srcNets[0]);
  if (dstNets && !isZeroPrefix(dstNets[0])) m.destNet(dstNets[0]);
  if (r.protocol) m.protocol(r.protocol);
  if (r.srcSelector) m.ipSet(ipSetName(selectorSet(r.srcSelector).id, v), "src");
  if (r.dstSelector) m.ipSet(ipSetName(selectorSet(r.dstSelector).id, v), "dst");
  if (r.dstNamedPort !== undefined && r.protocol && r.namedPortSelector) {
    m.ipSet(ipSetName(namedPortSet(r.namedPortSelector, r.protocol, r.dstNamedPort).id, v), "dst,dst");
  }
  if (r.dstPorts?.length) m.destPorts(portsText(r.dstPorts));

  const out: Rule[] = [];
  const notNets = [...srcNot.map((n) => ({ n, src: true })), ...dstNot.map((n) => ({ n, src: false }))];
  if (notNets.length > 0) {
    // ipBlock.except: OR over the excepted CIDRs needs a mark. scratch0 starts
    // set, any excepted CIDR clears it, and the main rule requires it.
    out.push(rule(match().build(), Actions.setMaskedMark(MARK_SCRATCH0, MARK_SCRATCH0 + MARK_SCRATCH1)));
    for (const { n, src } of notNets) {
      const nm = src ? match().sourceNet(n) : match().destNet(n);
      out.push(rule(nm.build(), Actions.clearMark(MARK_SCRATCH0)));
    }
    m.mark(MARK_SCRATCH0, MARK_SCRATCH0);
  }
  if (r.action === "deny") {
    out.push(rule(m.build(), denyAction(actions, v)));
    return out;
  }
  out.push(rule(m.build(), Actions.setMark(MARK_ACCEPT)));
  out.push(rule(match().mark(MARK_ACCEPT, MARK_ACCEPT).build(), Actions.return));
  return out;
}
