// The problem a policy over FELIX_POLICYMAXRULES raises (rule-bound.ts):
// `Policy//<policy key>/rules` (the key names it even once it is deleted),
// logged when it appears and counted in felix_resource_problems; it goes with
// the policy, or once it fits.

import type { Draft } from "immer";
import type { DesiredState } from "../desired-state.js";
import type { Policy } from "../model.js";
import { peek } from "../plain.js";
import type { Direction } from "./names.js";

/** The problem's key for the policy with this key (`default/<ns>/knp.default.<name>`, `np/<ns>/<name>`, `gnp/<name>`…). */
export function policySizeProblemKey(policyKey: string): string {
  return `Policy//${policyKey}/rules`;
}

/** The policies over the bound, and their problems kept in step. */
export class PolicySizeProblems {
  /** Keys of the policies reported now. */
  private readonly over = new Set<string>();

  constructor(private readonly maxRules: number | undefined) {}

  /**
   * After policy `key` was rendered: `over` lists its directions over the
   * bound. The snapshot's problems are read and written only when there is
   * one to set or clear (reading a draft's part copies it).
   */
  put(d: Draft<DesiredState>, key: string, p: Policy | undefined, over: readonly Direction[]): void {
    const problemKey = policySizeProblemKey(key);
    if (!p || over.length === 0) {
      if (this.over.delete(key)) delete d.problems[problemKey];
      return;
    }
    this.over.add(key);
    const where = p.id.namespace ? `${p.id.namespace}/` : "";
    const message =
      `${p.kind} ${where}${p.id.name} (tier ${p.id.tier}) would render more than FELIX_POLICYMAXRULES ` +
      `(${this.maxRules}) rules in one chain (${over.join(", ")}): it fails closed (its allow rules match nothing; ` +
      "with a deny or pass rule it denies everything it selects). Large CIDR lists belong in a (Global)NetworkSet";
    if (peek(d.problems, problemKey)?.message !== message) d.problems[problemKey] = { key: problemKey, message };
  }
}
