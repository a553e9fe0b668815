// One IP set of a snapshot draft, read and written without immer copying what
// it need not: a read goes to the shards as written so far (plain.ts says
// why), a write copies the set's shard and the 64-slot array
// (model/ipset-shards.ts), and clearing an absent set copies nothing.

import { castDraft, type Draft } from "immer";
import type { IpSetState } from "../../model/ipset.js";
import { ipSetShard } from "../../model/ipset-shards.js";
import type { DesiredState } from "../desired-state.js";
import { latest, peek } from "../plain.js";

/** The set as written so far in this flush, as a plain object. */
export function peekIpSet(d: Draft<DesiredState>, name: string): IpSetState | undefined {
  return peek(latest(d.ipsets)[ipSetShard(name)], name);
}

/** Sets (or with `set` undefined, deletes) one set; returns whether the draft changed (a delete of an absent set does not). */
export function writeIpSet(d: Draft<DesiredState>, name: string, set: IpSetState | undefined): boolean {
  const i = ipSetShard(name);
  if (set) {
    d.ipsets[i][name] = castDraft(set);
    return true;
  }
  if (!Object.hasOwn(latest(latest(d.ipsets)[i]), name)) return false;
  delete d.ipsets[i][name];
  return true;
}
