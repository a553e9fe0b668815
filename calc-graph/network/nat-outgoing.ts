// natOutgoing (Felix's rules/nat.go): traffic from a natOutgoing pool to
// anywhere outside every pool is masqueraded to the node's address, driven
// by two IP sets of pool CIDRs so that pool changes only touch the sets.

import { Actions, match, type Rule, rule } from "../../iptables/rule.js";
import type { IpVersion } from "../model.js";

export const NAT_OUTGOING_MASQ_SET = "masq-ipam-pools";
export const NAT_OUTGOING_ALL_SET = "all-ipam-pools";

/** `cali40masq-ipam-pools`, `cali60all-ipam-pools`, … */
export function natOutgoingSetName(id: string, v: IpVersion): string {
  return `cali${v}0${id}`;
}

/**
 * The rules of cali-nat-outgoing: none unless a natOutgoing pool of the
 * family exists. `--random-fully` (iptables ≥ 1.6.2, kernel ≥ 3.14) spreads
 * source ports, as Felix does when the host supports it.
 */
export function natOutgoingRules(active: boolean, v: IpVersion, randomFully = true): Rule[] {
  if (!active) return [];
  const m = match()
    .ipSet(natOutgoingSetName(NAT_OUTGOING_MASQ_SET, v), "src")
    .ipSet(natOutgoingSetName(NAT_OUTGOING_ALL_SET, v), "dst", true)
    .build();
  return [rule(m, `${Actions.jump("MASQUERADE")}${randomFully ? " --random-fully" : ""}`)];
}
