// Per-workload chains: `cali-tw-<iface>` (ingress, traffic to the workload)
// and `cali-fw-<iface>` (egress, traffic from it).
//
//   conntrack: established → ACCEPT, invalid → DROP
//   clear accept|pass marks
//   tier "default" (only when a policy selects the endpoint in this direction):
//     per policy: jump to its chain unless pass is set; RETURN if it accepted
//     DROP unless a policy passed: this is Kubernetes' default-deny on selection
//   per profile: jump; RETURN if it accepted
//   DROP: nothing accepted

import { Actions, match, NO_MATCH, type Rule, rule } from "../../iptables/rule.js";
import type { IpVersion } from "../model.js";
import { allowAction, DEFAULT_FILTER_ACTIONS, denyAction, type FilterActions } from "./filter-actions.js";

export const DEFAULT_TIER = "default";

export function renderEndpointRules(
  policyChains: readonly string[],
  profileChains: readonly string[],
  actions: FilterActions = DEFAULT_FILTER_ACTIONS,
  v: IpVersion = 4,
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
  if (policyChains.length > 0) {
    out.push(rule(NO_MATCH, Actions.clearMark(MARK_PASS), `Start of tier ${DEFAULT_TIER}`));
    for (const chain of policyChains) {
      out.push(rule(match().mark(0, MARK_PASS).build(), Actions.jump(chain)));
      out.push(rule(match().mark(MARK_ACCEPT, MARK_ACCEPT).build(), Actions.return, "Return if policy accepted"));
    }
    out.push(
      rule(match().mark(0, MARK_PASS).build(), deny, `End of tier ${DEFAULT_TIER}. Drop if no policies passed packet`),
    );
  }
  for (const chain of profileChains) {
    out.push(rule(NO_MATCH, Actions.jump(chain)));
    out.push(rule(match().mark(MARK_ACCEPT, MARK_ACCEPT).build(), Actions.return, "Return if profile accepted"));
  }
  out.push(rule(NO_MATCH, deny, "Drop if no profiles matched"));
  return out;
}
