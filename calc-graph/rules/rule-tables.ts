// Which tables a policy or profile chain goes in: where chains jump to it.
// filter always, except that doNotTrack policy lives in raw and preDNAT
// policy in mangle (Felix's policy manager); a normal policy or profile a
// host endpoint uses is also in mangle, where cali-th- polices the host's
// DNAT'd traffic. It is deleted from the other tables (a policy's kind can
// change).

import type { Chain } from "../../model/rule.js";
import type { TableName } from "../../model/tables.js";
import type { IpVersion, Policy, PolicyRule } from "../model.js";
import type { FilterActions } from "./filter-actions.js";
import type { Direction } from "./names.js";
import { failClosedRules, type OverfullSets } from "./overfull-sets.js";
import { renderPolicyRules } from "./policy.js";
import { failClosedPolicy } from "./rule-bound.js";

const FAMILIES: readonly IpVersion[] = [4, 6];
const POLICY_TABLES: readonly TableName[] = ["filter", "mangle", "raw"];

/**
 * Where one direction of a policy goes. preDNAT policy: mangle, doNotTrack
 * policy: raw, and only while a host endpoint here uses it (a workload never
 * jumps to them). Other policy: filter, and mangle too for the outbound
 * chain of a host endpoint's policy (mangle cali-th- polices DNAT'd host
 * traffic). `rules` undefined: no chain anywhere.
 */
export function policyChainPlacement(
  p: Policy | undefined,
  dir: Direction,
  rules: readonly PolicyRule[] | undefined,
  onHostEndpoint: boolean,
): { rules?: readonly PolicyRule[]; tables: TableName[] } {
  if (p?.doNotTrack) return onHostEndpoint ? { rules, tables: ["raw"] } : { tables: [] };
  if (p?.preDNAT) return onHostEndpoint ? { rules, tables: ["mangle"] } : { tables: [] };
  return { rules, tables: profileTables(dir, onHostEndpoint) };
}

/** A profile (or normal policy) chain: filter, and mangle too when outbound on a host endpoint. */
export function profileTables(dir: Direction, onHostEndpoint: boolean): TableName[] {
  return onHostEndpoint && dir === "outbound" ? ["filter", "mangle"] : ["filter"];
}

/** How a policy or profile chain is rendered besides its rules. */
export interface RuleChainOptions {
  /** The prefix of Log rules (logPrefix). */
  readonly logPrefix?: string;
  /** Set when some IP set is over the size bound: the rules using such a set fail closed first (overfull-sets.ts). */
  readonly overfull?: OverfullSets;
  /** FELIX_POLICYMAXRULES: a chain that would render more rules in a family fails closed whole (rule-bound.ts). */
  readonly maxRules?: number;
}

/**
 * Writes the chain into `tables` (rules undefined: nowhere) and deletes it
 * from the others. Returns whether the chain was over `maxRules` in a family
 * (and so failed closed whole).
 */
export function putRuleChain(
  put: (v: IpVersion, table: TableName, chain: Chain | undefined) => void,
  actions: FilterActions,
  name: string,
  rules: readonly PolicyRule[] | undefined,
  tables: readonly TableName[],
  o: RuleChainOptions = {},
): boolean {
  // REJECT exists only in the filter table.
  const drop = { ...actions, deny: "DROP" as const };
  let over = false;
  for (const v of FAMILIES) {
    let own = rules && o.overfull ? failClosedRules(rules, v, o.overfull) : rules;
    const render = (t: TableName) => renderPolicyRules(own!, v, t === "filter" ? actions : drop, o.logPrefix, name);
    // Every table renders the same number of rules: the first one the chain goes in decides.
    const first = own && POLICY_TABLES.find((t) => tables.includes(t));
    let firstRules = first && render(first);
    if (own && firstRules && o.maxRules !== undefined && firstRules.length > o.maxRules) {
      over = true;
      own = failClosedPolicy(own);
      firstRules = render(first!);
    }
    for (const t of POLICY_TABLES) {
      const chain = own && tables.includes(t) ? { name, rules: t === first ? firstRules! : render(t) } : undefined;
      put(v, t, chain);
    }
  }
  return over;
}
