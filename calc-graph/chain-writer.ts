// Puts one rendered chain into a DesiredState draft, keeping the previous
// object when the rule hashes did not change: "changed" stays "different by
// reference" for every consumer (dataplane, table syncer, benchmarks).

import { castDraft, type Draft } from "immer";
import { renderChain, sameRules } from "../iptables/render.js";
import type { Chain } from "../iptables/rule.js";
import { chainOf, putChain, shardOf, type TableName } from "../iptables/tables.js";
import { type DesiredState, familyKey } from "./desired-state.js";
import type { IpVersion } from "./model.js";
import { plain } from "./plain.js";

export interface ChainStats {
  chainsRendered: number;
  chainsChanged: number;
}

/** Sets (or with `chain` undefined, deletes) one chain. */
export function writeChain(
  d: Draft<DesiredState>,
  v: IpVersion,
  table: TableName,
  name: string,
  chain: Chain | undefined,
  stats: ChainStats,
): void {
  const t = d.iptables[familyKey(v)][table];
  const shard = shardOf(name);
  if (!chain) {
    if (chainOf(t, name, shard)) {
      putChain(t, name, undefined, shard);
      stats.chainsChanged++;
    }
    return;
  }
  stats.chainsRendered++;
  const rendered = renderChain(chain);
  // Compare with the plain object: reading a chain's rules through the draft
  // would make a proxy per rule (thousands in a dispatch chain).
  const old = plain(chainOf(t, name, shard));
  if (old && sameRules(old.rules, rendered.rules)) return;
  putChain(t, name, castDraft(rendered), shard);
  stats.chainsChanged++;
}
