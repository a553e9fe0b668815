// NFLOG rules on the drop paths (dropNflogGroup, off by default): before a
// rule drops, the packet is copied to the group with a prefix naming where
// the drop is, as Felix's flow-log NFLOG prefixes encode the rule's origin:
//
//   D <owner> <dir> <index> | <chain>
//   owner  P policy rule (index: the rule's, 0-based)    T end of tier (index: the tier's position)
//          R no profile allowed it                        U unknown interface (dispatch)
//   dir    I ingress (to a workload)  E egress (from one)  - none (dispatch)
//
// The chain name (at most 28 characters, Felix's) leads back to the policy,
// profile or endpoint through the graph (felix-dump drops decodes it), so the
// prefix stays within NFLOG's 64 bytes whatever the names.

import { Actions, type Match, type Rule, rule } from "../../model/rule.js";
import type { FilterActions } from "./filter-actions.js";
import { POLICY_INBOUND_PREFIX, PROFILE_INBOUND_PREFIX, TO_WORKLOAD_PREFIX } from "./names.js";

export type DropOwner = "P" | "T" | "R" | "U";

export interface DropOrigin {
  readonly owner: DropOwner;
  readonly dir: "I" | "E" | "-";
  readonly index: number;
  readonly chain: string;
}

/** The direction of a policy, profile or endpoint chain. */
export function chainDir(chain: string): "I" | "E" {
  return chain.startsWith(POLICY_INBOUND_PREFIX) ||
    chain.startsWith(PROFILE_INBOUND_PREFIX) ||
    chain.startsWith(TO_WORKLOAD_PREFIX)
    ? "I"
    : "E";
}

export function dropPrefix(o: DropOrigin): string {
  return `D${o.owner}${o.dir}${o.owner === "P" || o.owner === "T" ? o.index : ""}|${o.chain}`;
}

const PREFIX = /^D([PTRU])([IE-])(\d*)\|(\S{1,60})$/;

/** A prefix back to its origin; undefined when it is not one of ours. */
export function parseDropPrefix(prefix: string): DropOrigin | undefined {
  const m = PREFIX.exec(prefix);
  if (!m) return undefined;
  return { owner: m[1] as DropOwner, dir: m[2] as DropOrigin["dir"], index: m[3] ? Number(m[3]) : 0, chain: m[4] };
}

/** The NFLOG rule to put before a drop rule with match `m`, or none when drop logging is off. */
export function dropLogRules(a: FilterActions, m: Match, o: DropOrigin): Rule[] {
  return a.dropNflogGroup ? [rule(m, Actions.nflog(a.dropNflogGroup, dropPrefix(o)))] : [];
}
