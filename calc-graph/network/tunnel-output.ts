// While a host endpoint is in force (its egress policy runs at the end of
// cali-OUTPUT), this host's own encapsulated traffic to the other Calico hosts
// is accepted first, as Felix does in filterOutputChain: otherwise a host
// endpoint with a restrictive egress policy (or none: default deny) would
// silently cut the overlay.

import { type Action, match, type Rule, rule } from "../../model/rule.js";
import type { IpVersion } from "../model.js";
import { ALL_HOSTS_SET } from "./tunnel-rules.js";
import { ALL_VXLAN_SOURCES_SET, ALL_VXLAN_SOURCES_SET_V6 } from "./vxlan-input.js";

/** `allow`: the filter allow action; `vxlanPort` undefined when VXLAN is not in use for the family. */
export function tunnelOutputRules(v: IpVersion, ipip: boolean, vxlanPort: number | undefined, allow: Action): Rule[] {
  const out: Rule[] = [];
  if (ipip && v === 4) {
    const m = match().protocol("ipencap").ipSet(ALL_HOSTS_SET, "dst").srcAddrTypeLocal().build();
    out.push(rule(m, allow, "Allow IPIP packets to other Calico hosts"));
  }
  if (vxlanPort !== undefined) {
    const set = v === 4 ? ALL_VXLAN_SOURCES_SET : ALL_VXLAN_SOURCES_SET_V6;
    const m = match().protocol("udp").destPorts(String(vxlanPort)).srcAddrTypeLocal().ipSet(set, "dst").build();
    out.push(rule(m, allow, `Allow IPv${v} VXLAN packets to other allowed hosts`));
  }
  return out;
}

/** Puts the rules in front of the host endpoint tail of cali-OUTPUT (its last three rules). */
export function withTunnelOutput(rules: readonly Rule[], extra: readonly Rule[]): Rule[] {
  if (extra.length === 0) return [...rules];
  const at = rules.length - 3;
  return [...rules.slice(0, at), ...extra, ...rules.slice(at)];
}
