// Felix's guard for VXLAN (rules/static.go): at the top of cali-INPUT, VXLAN
// packets to this host are accepted only from known VTEPs (the other nodes'
// addresses, IP set cali40all-vxlan-net) and dropped from anywhere else, so
// that nobody can inject encapsulated traffic past policy.

import { Actions, match, type Rule, rule } from "../../iptables/rule.js";

export const ALL_VXLAN_SOURCES_SET = "cali40all-vxlan-net";

export function vxlanInputRules(port: number): Rule[] {
  const vxlan = () => match().protocol("udp").destPorts(String(port));
  return [
    rule(
      vxlan().ipSet(ALL_VXLAN_SOURCES_SET, "src").raw("-m addrtype --dst-type LOCAL").build(),
      Actions.accept,
      "Allow IPv4 VXLAN packets from allowed hosts",
    ),
    rule(
      vxlan().raw("-m addrtype --dst-type LOCAL").build(),
      Actions.drop,
      "Drop IPv4 VXLAN packets from non-allowed hosts",
    ),
  ];
}
