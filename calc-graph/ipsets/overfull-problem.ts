// The problem an IP set over the size bound raises (FELIX_MAXIPSETSIZE), per
// family: logged when it appears, counted in felix_resource_problems and
// felix_ipsets_overfull, warned by felix-dump too; it goes once the set
// shrinks under the bound or no rule uses it any more.

import type { Draft } from "immer";
import type { DesiredState } from "../desired-state.js";
import type { IpVersion } from "../model.js";
import { peek } from "../plain.js";
import { selectorText } from "../selector/selector.js";
import { ipSetName } from "./ids.js";
import type { IpSetIndex } from "./ipset-index.js";

const FAMILIES: readonly IpVersion[] = [4, 6];

/** The problem's key: `IPSet//<kernel name>/size`. */
export function overfullProblemKey(name: string): string {
  return `IPSet//${name}/size`;
}

/** Sets or clears the set's problems to match whether it is over the bound now (called when it crossed it). */
export function putOverfullProblems(d: Draft<DesiredState>, ipsets: IpSetIndex, id: string): void {
  for (const v of FAMILIES) {
    const name = ipSetName(id, v);
    const key = overfullProblemKey(name);
    const spec = ipsets.spec(id);
    if (!spec || !ipsets.isOverfull(id, v)) {
      if (key in d.problems) delete d.problems[key];
      continue;
    }
    // A selector is tenant text: cut, so a problem stays one short line.
    const sel = selectorText(spec.selector);
    const selText = sel.length > 200 ? `${sel.slice(0, 200)}…` : sel;
    const what =
      spec.kind === "selector" ? `selector ${selText}` : `named port ${spec.protocol}/${spec.port} of ${selText}`;
    // No member count: the message (and so the warning) changes only when the set goes over, not with every member.
    const message =
      `IP set ${name} (${what}) would hold more than FELIX_MAXIPSETSIZE (${ipsets.maxSize}) members: ` +
      "it is not programmed, and the rules using it fail closed " +
      "(an allow or log rule skips what needs it; a deny or pass rule denies regardless of it)";
    if (peek(d.problems, key)?.message !== message) d.problems[key] = { key, message };
  }
}
