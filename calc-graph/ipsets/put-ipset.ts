// Puts one IP set (both families) into a snapshot draft from the index,
// unless its members did not change; a set with no spec, or over the size
// bound, is deleted.

import type { Draft } from "immer";
import type { DesiredState, IpSetState } from "../desired-state.js";
import type { IpVersion } from "../model.js";
import { peekIpSet, writeIpSet } from "./draft-ipset.js";
import { ipSetName, ipSetType } from "./ids.js";
import type { IpSetIndex } from "./ipset-index.js";

const FAMILIES: readonly IpVersion[] = [4, 6];

export function putIpSet(
  d: Draft<DesiredState>,
  ipsets: IpSetIndex,
  id: string,
  stats: { ipsetsChanged: number },
): void {
  const spec = ipsets.spec(id);
  for (const v of FAMILIES) {
    const name = ipSetName(id, v);
    // Not `if (d.ipsets…[name]) delete …`: a set read through the draft makes immer scan its shard when it finishes.
    if (!spec) {
      if (writeIpSet(d, name, undefined)) stats.ipsetsChanged++;
      continue;
    }
    // Over the size bound: never programmed (nor copied), its rules fail closed (rules/overfull-sets.ts).
    if (ipsets.isOverfull(id, v)) {
      ipsets.release(id, v);
      if (writeIpSet(d, name, undefined)) stats.ipsetsChanged++;
      continue;
    }
    // Compare with the plain set: iterating a draft Set makes immer copy it.
    const old = peekIpSet(d, name);
    const members = ipsets.members(id, v, old?.members);
    if (old && members === old.members) continue;
    // Frozen here so immer does not walk (and freeze) thousands of members.
    const set: IpSetState = { name, family: v, type: ipSetType(spec), members };
    writeIpSet(d, name, Object.freeze(set));
    stats.ipsetsChanged++;
  }
}
