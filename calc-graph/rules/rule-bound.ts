// The bound on one policy chain's length (FELIX_POLICYMAXRULES, felix-ts's
// own). A policy is one object a tenant writes, but its rules multiply into
// kernel rules (peers, ipBlocks and their excepts, port groups): a 1.5 MiB
// NetworkPolicy of ipBlocks renders some 75,000 rules in one chain, and every
// later restore and read of the table on the node pays for them (legacy
// iptables rewrites the whole table per commit: +0.4 s per apply at 90,000
// rules; iptables-nft-save takes 6 s). Felix renders such a policy as it is.
//
// Over the bound the policy fails closed as a whole, by the reasoning of
// overfull-sets.ts: its allow and log rules match nothing (skipping an allow
// never allows more), and its first deny or pass rule, widened to match
// everything, denies all that reaches it. So the chain is one unconditional
// deny when the policy has a deny or pass rule, and empty otherwise (its
// endpoints then meet the other policies and the end-of-tier drop).

import type { PolicyRule } from "../model.js";

/** Default FELIX_POLICYMAXRULES: rendered rules in one policy chain, per family. */
export const DEFAULT_MAX_POLICY_RULES = 50_000;

/**
 * What a policy over the bound keeps of `rules`, position for position (null:
 * the rule matches nothing): its first deny or pass rule as an unconditional
 * deny, nothing else.
 */
export function failClosedPolicy(rules: readonly (PolicyRule | null)[]): (PolicyRule | null)[] {
  const first = rules.findIndex((r) => r?.action === "deny" || r?.action === "pass");
  return rules.map((_, i) => (i === first ? { action: "deny" } : null));
}
