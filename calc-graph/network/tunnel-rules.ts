// The rules encapsulation needs besides its devices (Felix's rules/static.go):
//
//   filter cali-INPUT   IP-in-IP to this host only from Calico hosts (IP set
//                       cali40all-hosts-net), dropped from anywhere else: the
//                       tunl0 fallback device would decapsulate anything
//   raw    PREROUTING,  VXLAN is not tracked: each direction picks its own
//          OUTPUT       source port, so tracking makes unreplied entries
//   nat    cali-POSTROUTING  traffic leaving through a tunnel with a local
//                       source that is not the tunnel's own address (a socket
//                       bound to another host address, a service reply NAT'd
//                       on the host) is masqueraded to the tunnel address;
//                       UDP keeps clear of the VXLAN port, or its replies
//                       would meet the VXLAN input guard

import { Actions, match, type PortRange, type Rule, rule } from "../../model/rule.js";
import type { IpVersion } from "../model.js";

/** Felix's IPSetIDAllHostNets: every Calico node's address. */
export const ALL_HOSTS_SET = "cali40all-hosts-net";

export function ipipInputRules(): Rule[] {
  return [
    rule(
      match().protocol("ipencap").ipSet(ALL_HOSTS_SET, "src").destAddrTypeLocal().build(),
      Actions.accept,
      "Allow IPIP packets from Calico hosts",
    ),
    rule(match().protocol("ipencap").build(), Actions.drop, "DROP IPIP packets from non-Calico hosts"),
  ];
}

export function vxlanNotrackRule(port: number): Rule {
  return rule(match().protocol("udp").destPort("udp", port).build(), Actions.notrack);
}

/**
 * The source-port range a UDP masquerade must keep to so that it never
 * picks the VXLAN port: the wider side of it, from 1024 up.
 */
export function masqPortsExcluding(port: number): PortRange {
  const lo = 1024;
  const hi = 65535;
  return port - lo >= hi - port ? { first: lo, last: port - 1 } : { first: port + 1, last: hi };
}

/**
 * cali-POSTROUTING's rule(s) for one tunnel device. `vxlanPort` is set when
 * VXLAN is in use in this family; `randomFully` when the kernel and iptables
 * support it (Felix's MASQFullyRandom feature).
 */
export function tunnelMasqueradeRules(device: string, vxlanPort: number | undefined, randomFully: boolean): Rule[] {
  const m = () => match().outInterface(device).srcAddrTypeLocal(true, true).srcAddrTypeLocal();
  const out: Rule[] = [];
  if (vxlanPort !== undefined) {
    out.push(
      rule(m().protocol("udp").build(), Actions.masquerade({ toPorts: masqPortsExcluding(vxlanPort), randomFully })),
    );
  }
  out.push(rule(m().build(), Actions.masquerade({ randomFully })));
  return out;
}

/** Which tunnel devices a family masquerades for (only those with an address). */
export function tunnelDevicesOf(v: IpVersion, tunnels: Readonly<Record<string, { address?: string }>>): string[] {
  const names = v === 4 ? ["tunl0", "vxlan.calico"] : ["vxlan-v6.calico"];
  return names.filter((n) => tunnels[n]?.address);
}
