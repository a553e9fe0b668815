// Felix's guard for VXLAN (rules/static.go): at the top of cali-INPUT, VXLAN
// packets to this host are accepted only from known VTEPs (the other nodes'
// addresses, IP set cali40all-vxlan-net, cali60all-vxlan-net for IPv6 VXLAN)
// and dropped from anywhere else, so that nobody can inject encapsulated
// traffic past policy.

import { Actions, match, type Rule, rule } from "../../model/rule.js";

export const ALL_VXLAN_SOURCES_SET = "cali40all-vxlan-net";
export const ALL_VXLAN_SOURCES_SET_V6 = "cali60all-vxlan-net";

export function vxlanInputRules(port: number, v: 4 | 6 = 4): Rule[] {
  const vxlan = () => match().protocol("udp").destPorts(String(port));
  const set = v === 4 ? ALL_VXLAN_SOURCES_SET : ALL_VXLAN_SOURCES_SET_V6;
  return [
    rule(
      vxlan().ipSet(set, "src").destAddrTypeLocal().build(),
      Actions.accept,
      `Allow IPv${v} VXLAN packets from allowed hosts`,
    ),
    rule(vxlan().destAddrTypeLocal().build(), Actions.drop, `Drop IPv${v} VXLAN packets from non-allowed hosts`),
  ];
}
