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
import { renderPolicyRules } from "./policy.js";

const FAMILIES: readonly IpVersion[] = [4, 6];
const POLICY_TABLES: readonly TableName[] = ["filter", "mangle", "raw"];

/** `p` undefined: a profile (or a deleted policy). */
export function policyTables(p: Policy | undefined, onHostEndpoint: boolean): TableName[] {
  if (p?.doNotTrack) return ["raw"];
  if (p?.preDNAT) return ["mangle"];
  return onHostEndpoint ? ["filter", "mangle"] : ["filter"];
}

/** Writes the chain into `tables` (rules undefined: nowhere) and deletes it from the others. */
export function putRuleChain(
  put: (v: IpVersion, table: TableName, chain: Chain | undefined) => void,
  actions: FilterActions,
  name: string,
  rules: readonly PolicyRule[] | undefined,
  tables: readonly TableName[],
  logPrefix?: string,
): void {
  // REJECT exists only in the filter table.
  const drop = { ...actions, deny: "DROP" as const };
  for (const v of FAMILIES) {
    for (const t of POLICY_TABLES) {
      const chain =
        rules && tables.includes(t)
          ? { name, rules: renderPolicyRules(rules, v, t === "filter" ? actions : drop, logPrefix) }
          : undefined;
      put(v, t, chain);
    }
  }
}
