// natOutgoing (Felix's rules/nat.go): traffic from a natOutgoing pool to
// anywhere outside every pool is masqueraded to the node's address, driven
// by two IP sets of pool CIDRs so that pool changes only touch the sets.
// FelixConfiguration shapes the rule: natOutgoingAddress (SNAT to it instead
// of MASQUERADE), natPortRange (TCP/UDP source ports) and
// iptablesNATOutgoingInterfaceFilter (only traffic leaving that interface).

import { Actions, match, type Rule, type PortRange as RulePorts, rule } from "../../model/rule.js";
import type { PortRange } from "../config/parse.js";
import type { IpVersion } from "../model.js";

export const NAT_OUTGOING_MASQ_SET = "masq-ipam-pools";
export const NAT_OUTGOING_ALL_SET = "all-ipam-pools";

export interface NatOutgoingOptions {
  /** IPv4 only (Felix's natOutgoingAddress is an IPv4 address); IPv6 keeps MASQUERADE. */
  readonly natOutgoingAddress?: string;
  readonly natPortRange?: PortRange;
  readonly natOutgoingInterfaceFilter?: string;
  /** `--random-fully` works here (Felix's MASQFullyRandom feature; default true). */
  readonly masqFullyRandom?: boolean;
}

/** `cali40masq-ipam-pools`, `cali60all-ipam-pools`, … */
export function natOutgoingSetName(id: string, v: IpVersion): string {
  return `cali${v}0${id}`;
}

/**
 * The rules of cali-nat-outgoing: none unless a natOutgoing pool of the
 * family exists. `--random-fully` (iptables ≥ 1.6.2, kernel ≥ 3.14) spreads
 * source ports, as Felix does when the host supports it. With a port range,
 * TCP and UDP get it (and RETURN once translated); other protocols (ICMP)
 * have no ports and take the plain rule.
 */
export function natOutgoingRules(active: boolean, v: IpVersion, o: NatOutgoingOptions = {}): Rule[] {
  if (!active) return [];
  const on = (protocol?: string) => {
    const m = match();
    if (protocol) m.protocol(protocol);
    m.ipSet(natOutgoingSetName(NAT_OUTGOING_MASQ_SET, v), "src").ipSet(
      natOutgoingSetName(NAT_OUTGOING_ALL_SET, v),
      "dst",
      true,
    );
    if (o.natOutgoingInterfaceFilter) m.outInterface(o.natOutgoingInterfaceFilter);
    return m.build();
  };
  const address = v === 4 ? o.natOutgoingAddress : undefined;
  const randomFully = o.masqFullyRandom !== false;
  const translate = (toPorts?: RulePorts) =>
    address
      ? Actions.snat(address, toPorts ? { toPorts, randomFully } : { randomFully })
      : Actions.masquerade(toPorts ? { toPorts, randomFully } : { randomFully });
  const r = o.natPortRange;
  if (!r) return [rule(on(), translate())];
  const ports: RulePorts = { first: r.min, last: r.max };
  return [
    rule(on("tcp"), translate(ports)),
    rule(on("tcp"), Actions.return),
    rule(on("udp"), translate(ports)),
    rule(on("udp"), Actions.return),
    rule(on(), translate()),
  ];
}
