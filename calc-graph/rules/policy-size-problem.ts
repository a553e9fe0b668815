// The problem a policy over FELIX_POLICYMAXRULES raises (rule-bound.ts):
// `Policy//<policy key>/rules` (the key names it even once it is deleted),
// logged when it appears and counted in felix_resource_problems; it goes with
// the policy, or once it fits.

import type { Draft } from "immer";
import type { DesiredState } from "../desired-state.js";
import type { Policy } from "../model.js";
import { plain } from "../plain.js";
import type { Direction } from "./names.js";

/** The problem's key for the policy with this key (`default/<ns>/knp.default.<name>`, `np/<ns>/<name>`, `gnp/<name>`…). */
export function policySizeProblemKey(policyKey: string): string {
  return `Policy//${policyKey}/rules`;
}

/** Sets the problem while some direction of `p` is over the bound (`over`), clears it otherwise. */
export function putPolicySizeProblem(
  d: Draft<DesiredState>,
  key: string,
  p: Policy | undefined,
  over: readonly Direction[],
  maxRules: number | undefined,
): void {
  const problemKey = policySizeProblemKey(key);
  if (!p || over.length === 0) {
    if (problemKey in d.problems) delete d.problems[problemKey];
    return;
  }
  const where = p.id.namespace ? `${p.id.namespace}/` : "";
  const message =
    `${p.kind} ${where}${p.id.name} (tier ${p.id.tier}) would render more than FELIX_POLICYMAXRULES ` +
    `(${maxRules}) rules in one chain (${over.join(", ")}): it fails closed (its allow rules match nothing; ` +
    "with a deny or pass rule it denies everything it selects). Large CIDR lists belong in a (Global)NetworkSet";
  if (plain(d.problems[problemKey])?.message !== message) d.problems[problemKey] = { key: problemKey, message };
}
