// Rules that use an IP set over FELIX_MAXIPSETSIZE (ipsets/ipset-index.ts).
// Such a set is not programmed, so no rule may reference it; what a rule
// becomes without it must never allow more than its policy says:
//
//   allow, log   the alternatives that need the set match nothing: a `from`
//                peer or named port using it is left out, a rule with none
//                left is dropped. Skipping an allow only lets the packet on
//                to the later rules, tiers and profiles, which decide no more
//                than the allow would have (it allowed).
//   deny         every condition on the set is taken as true (a selector, a
//                notSelector, a named port alike), so the rule denies at
//                least what it denied: more, never less.
//   pass         neither direction is safe (matching less lets the tier's
//                later allows see traffic meant for the next tier; matching
//                more skips this tier's denies), so it becomes the widened
//                deny: what it passed is denied, and so is what it widened to.
//
// Felix has no such rule: it creates every set with maxelem MaxIpsetSize and,
// when a restore overflows one, retries and then panics (a crash loop that
// stops every policy change on the node). Here one tenant's oversized set
// costs only its own users' traffic, and a problem reports it.

import { namedPortSet, selectorSet } from "../ipsets/ids.js";
import { type IpVersion, isPortProtocol, type PeerMatch, type PolicyRule, type PortMatch } from "../model.js";
import type { Selector } from "../selector/selector.js";

/** Whether the set with this id is over the bound in family `v`. */
export type OverfullSets = (id: string, v: IpVersion) => boolean;

/**
 * `rules` with every use of an over-full set failed closed, position for
 * position (null: the rule matches nothing), so rule numbers stay Calico's;
 * the same array when none uses one.
 */
export function failClosedRules(
  rules: readonly PolicyRule[],
  v: IpVersion,
  overfull: OverfullSets,
): readonly (PolicyRule | null)[] {
  let out: (PolicyRule | null)[] | undefined;
  for (const [i, r] of rules.entries()) {
    const next = failClosedRule(r, v, overfull);
    if (next === r && !out) continue;
    out ??= rules.slice(0, i);
    out.push(next);
  }
  return out ?? rules;
}

/** One rule failed closed; the same object when it uses no over-full set, null when it can match nothing. */
export function failClosedRule(r: PolicyRule, v: IpVersion, overfull: OverfullSets): PolicyRule | null {
  const over = (s: Selector | undefined) => s !== undefined && overfull(selectorSet(s).id, v);
  const overPort = (m: PortMatch, name: string | undefined) =>
    name !== undefined &&
    isPortProtocol(m.protocol) &&
    m.namedPortSelector !== undefined &&
    overfull(namedPortSet(m.namedPortSelector, m.protocol, name).id, v);
  const peerOver = (p: PeerMatch) =>
    over(p.srcSelector) || over(p.srcNotSelector) || over(p.dstSelector) || over(p.dstNotSelector);
  const ownOver =
    peerOver(r) ||
    overPort(r, r.dstNamedPort) ||
    (r.dstNotNamedPorts ?? []).some((n) => overPort(r, n)) ||
    (r.anyPeer ?? []).some(peerOver) ||
    (r.anyPort ?? []).some((p) => overPort(p, p.dstNamedPort));
  if (!ownOver) return r;
  if (r.action === "allow" || r.action === "log") {
    // Narrowed: a condition on the set is false, and so is its alternative.
    if (peerOver(r) || overPort(r, r.dstNamedPort) || (r.dstNotNamedPorts ?? []).some((n) => overPort(r, n))) {
      return null;
    }
    const anyPeer = r.anyPeer?.filter((p) => !peerOver(p));
    const anyPort = r.anyPort?.filter((p) => !overPort(p, p.dstNamedPort));
    if (anyPeer?.length === 0 || anyPort?.length === 0) return null;
    return { ...r, ...(anyPeer ? { anyPeer } : {}), ...(anyPort ? { anyPort } : {}) };
  }
  // Widened (deny; pass as deny): a condition on the set is true, so it goes.
  const widenPeer = <T extends PeerMatch>(p: T): T => {
    const out: { -readonly [K in keyof PeerMatch]: PeerMatch[K] } = { ...p };
    if (over(p.srcSelector)) delete out.srcSelector;
    if (over(p.srcNotSelector)) delete out.srcNotSelector;
    if (over(p.dstSelector)) delete out.dstSelector;
    if (over(p.dstNotSelector)) delete out.dstNotSelector;
    return out as T;
  };
  const widenPort = <T extends PortMatch>(p: T): T => {
    if (!overPort(p, p.dstNamedPort)) return p;
    const { dstNamedPort: _, ...rest } = p;
    return rest as T;
  };
  const out: { -readonly [K in keyof PolicyRule]: PolicyRule[K] } = widenPort(widenPeer(r));
  out.action = "deny";
  if (r.dstNotNamedPorts) {
    const kept = r.dstNotNamedPorts.filter((n) => !overPort(r, n));
    if (kept.length > 0) out.dstNotNamedPorts = kept;
    else delete out.dstNotNamedPorts;
  }
  if (r.anyPeer) out.anyPeer = r.anyPeer.map(widenPeer);
  if (r.anyPort) out.anyPort = r.anyPort.map(widenPort);
  return out;
}
