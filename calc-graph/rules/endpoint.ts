// Per-workload chains: `cali-tw-<iface>` (ingress, traffic to the workload)
// and `cali-fw-<iface>` (egress, traffic from it).
//
//   conntrack: established → ACCEPT, invalid → DROP
//   clear accept|pass marks
//   egress only: DROP VXLAN-port UDP and IP-in-IP the workload sends, unless
//     allowed (FELIX_ALLOWVXLANPACKETSFROMWORKLOADS / …IPIP…): encapsulation
//     would carry a packet with any source past the other node's policy
//   tier "default" (only when a policy selects the endpoint in this direction):
//     per policy: jump to its chain unless pass is set; RETURN if it accepted
//     DROP unless a policy passed: this is Kubernetes' default-deny on selection
//   per profile: jump; RETURN if it accepted
//   DROP: nothing accepted

import { Actions, match, NO_MATCH, type Rule, rule } from "../../iptables/rule.js";
import { MARK_ACCEPT, MARK_PASS } from "./marks.js";

export const DEFAULT_TIER = "default";

/** Encapsulated packets a workload's egress drops (Felix: always, whatever the pools, unless allowed). */
export interface EncapDrops {
  /** The VXLAN port to drop UDP to; undefined when VXLAN from workloads is allowed. */
  readonly vxlanPort?: number;
  readonly ipip: boolean;
}

export function renderEndpointRules(
  policyChains: readonly string[],
  profileChains: readonly string[],
  encapDrops?: EncapDrops,
): Rule[] {
  const out: Rule[] = [
    rule(match().ctState("RELATED,ESTABLISHED").build(), Actions.accept),
    rule(match().ctState("INVALID").build(), Actions.drop),
    rule(NO_MATCH, Actions.clearMark(MARK_ACCEPT | MARK_PASS)),
  ];
  if (encapDrops?.vxlanPort !== undefined) {
    out.push(
      rule(
        match().protocol("udp").destPorts(String(encapDrops.vxlanPort)).build(),
        Actions.drop,
        "DROP VXLAN encapped packets originating in workloads",
      ),
    );
  }
  if (encapDrops?.ipip) {
    out.push(
      rule(match().protocol("ipencap").build(), Actions.drop, "DROP IPinIP encapped packets originating in workloads"),
    );
  }
  if (policyChains.length > 0) {
    out.push(rule(NO_MATCH, Actions.clearMark(MARK_PASS), `Start of tier ${DEFAULT_TIER}`));
    for (const chain of policyChains) {
      out.push(rule(match().mark(0, MARK_PASS).build(), Actions.jump(chain)));
      out.push(rule(match().mark(MARK_ACCEPT, MARK_ACCEPT).build(), Actions.return, "Return if policy accepted"));
    }
    out.push(
      rule(
        match().mark(0, MARK_PASS).build(),
        Actions.drop,
        `End of tier ${DEFAULT_TIER}. Drop if no policies passed packet`,
      ),
    );
  }
  for (const chain of profileChains) {
    out.push(rule(NO_MATCH, Actions.jump(chain)));
    out.push(rule(match().mark(MARK_ACCEPT, MARK_ACCEPT).build(), Actions.return, "Return if profile accepted"));
  }
  out.push(rule(NO_MATCH, Actions.drop, "Drop if no profiles matched"));
  return out;
}
