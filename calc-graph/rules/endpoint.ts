// Per-workload chains: `cali-tw-<iface>` (ingress, traffic to the workload)
// and `cali-fw-<iface>` (egress, traffic from it).
//
//   conntrack: established → ACCEPT, invalid → DROP
//   clear accept|pass marks
//   egress only: DROP VXLAN-port UDP and IP-in-IP the workload sends, unless
//     allowed (FELIX_ALLOWVXLANPACKETSFROMWORKLOADS / …IPIP…): encapsulation
//     would carry a packet with any source past the other node's policy
//   per tier with a policy selecting the endpoint in this direction, in order:
//     clear the pass mark ("Start of tier")
//     per policy: jump to its chain unless pass is set; RETURN if it accepted
//     DROP unless a policy passed (defaultAction Deny; Pass: on to the next
//     tier): in tier default this is Kubernetes' default-deny on selection
//   per profile: jump; RETURN if it accepted
//   DROP: nothing accepted

import { Actions, match, NO_MATCH, type Rule, rule } from "../../model/rule.js";
import type { RuleSettings } from "../config/settings.js";
import type { IpVersion } from "../model.js";
import { chainDir, dropLogRules } from "./drop-log.js";
import { allowAction, DEFAULT_FILTER_ACTIONS, denyAction, type FilterActions } from "./filter-actions.js";

export const DEFAULT_TIER = "default";

/** One tier's policy chains for an endpoint chain, in evaluation order. */
export interface TierChains {
  readonly name: string;
  readonly defaultAction: "Deny" | "Pass";
  readonly chains: readonly string[];
}

/** Encapsulated packets a workload's egress drops (Felix: always, whatever the pools, unless allowed). */
export interface EncapDrops {
  /** The VXLAN port to drop UDP to; undefined when VXLAN from workloads is allowed. */
  readonly vxlanPort?: number;
  readonly ipip: boolean;
}

/** Felix drops encapsulated packets from workloads on the configured VXLAN port, whatever the pools, unless allowed. */
export function encapDropsOf(s: RuleSettings, vxlanPort: number): EncapDrops {
  return {
    ...(s.allowVXLANPacketsFromWorkloads ? {} : { vxlanPort }),
    ipip: !s.allowIPIPPacketsFromWorkloads,
  };
}

export function renderEndpointRules(
  tiers: readonly TierChains[],
  profileChains: readonly string[],
  actions: FilterActions = DEFAULT_FILTER_ACTIONS,
  v: IpVersion = 4,
  encapDrops?: EncapDrops,
  chain = "",
): Rule[] {
  const deny = denyAction(actions, v);
  const { accept: MARK_ACCEPT, pass: MARK_PASS } = actions.marks;
  const established = match().ctState("RELATED,ESTABLISHED").build();
  const out: Rule[] = [];
  // RETURN instead of ACCEPT: the accept mark tells the callers it was accepted (Felix).
  if (actions.allow !== "ACCEPT") out.push(rule(established, Actions.setMark(MARK_ACCEPT)));
  out.push(
    rule(established, allowAction(actions)),
    rule(match().ctState("INVALID").build(), deny),
    rule(NO_MATCH, Actions.clearMark(MARK_ACCEPT + MARK_PASS)),
  );
  if (encapDrops?.vxlanPort !== undefined) {
    const udp = match().protocol("udp").destPorts(String(encapDrops.vxlanPort)).build();
    out.push(rule(udp, deny, "DROP VXLAN encapped packets originating in workloads"));
  }
  if (encapDrops?.ipip) {
    out.push(rule(match().protocol("ipencap").build(), deny, "DROP IPinIP encapped packets originating in workloads"));
  }
  const dir = chainDir(chain);
  for (const [t, tier] of tiers.entries()) {
    if (tier.chains.length === 0) continue;
    out.push(rule(NO_MATCH, Actions.clearMark(MARK_PASS), `Start of tier ${tier.name}`));
    for (const chain of tier.chains) {
      out.push(rule(match().mark(0, MARK_PASS).build(), Actions.jump(chain)));
      out.push(rule(match().mark(MARK_ACCEPT, MARK_ACCEPT).build(), Actions.return, "Return if policy accepted"));
    }
    if (tier.defaultAction === "Pass") continue;
    const notPassed = match().mark(0, MARK_PASS).build();
    out.push(...dropLogRules(actions, notPassed, { owner: "T", dir, index: t, chain }));
    out.push(
      rule(match().mark(0, MARK_PASS).build(), deny, `End of tier ${tier.name}. Drop if no policies passed packet`),
    );
  }
  for (const chain of profileChains) {
    out.push(rule(NO_MATCH, Actions.jump(chain)));
    out.push(rule(match().mark(MARK_ACCEPT, MARK_ACCEPT).build(), Actions.return, "Return if profile accepted"));
  }
  out.push(...dropLogRules(actions, NO_MATCH, { owner: "R", dir, index: 0, chain }));
  out.push(rule(NO_MATCH, deny, "Drop if no profiles matched"));
  return out;
}
