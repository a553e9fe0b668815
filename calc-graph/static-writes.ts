// Puts the static tables (rules/static.ts) into a snapshot draft: at start-up,
// and again when the FelixConfiguration/env settings change. Chains the old
// settings rendered and the new ones do not are deleted; a hook whose rules
// did not change keeps its object, so an untouched table stays the same by
// reference.

import { castDraft, type Draft } from "immer";
import { type ChainRenderer, sameRules } from "../model/chain-render.js";
import type { Chain } from "../model/rule.js";
import { TABLE_NAMES, type TableName } from "../model/tables.js";
import { type DesiredState, familyKey } from "./desired-state.js";
import type { IpVersion } from "./model.js";
import { plain } from "./plain.js";
import { renderStaticTables, type StaticConfig } from "./rules/static.js";

/** Writes (or with `chain` undefined, deletes) one chain. */
export type PutChain = (v: IpVersion, table: TableName, chain: Chain | undefined, name: string) => void;

export function putStaticTables(
  d: Draft<DesiredState>,
  v: IpVersion,
  now: StaticConfig,
  put: PutChain,
  chains: ChainRenderer,
  before?: StaticConfig,
): void {
  const statics = renderStaticTables(now, v);
  const old = before && renderStaticTables(before, v);
  for (const t of TABLE_NAMES) {
    const names = new Set(statics[t].chains.map((c) => c.name));
    for (const c of old?.[t].chains ?? []) if (!names.has(c.name)) put(v, t, undefined, c.name);
    for (const c of statics[t].chains) put(v, t, c, c.name);
    const table = d.iptables[familyKey(v)][t];
    // A hook the old settings had and the new do not (mangle POSTROUTING without host endpoints).
    for (const builtin of Object.keys(old?.[t].hooks ?? {})) {
      if (!(builtin in statics[t].hooks)) delete table.hooks[builtin];
    }
    for (const [builtin, h] of Object.entries(statics[t].hooks)) {
      const hook = chains.renderHook(builtin, h.insert, h.append, { family: v, table: t });
      const prev = plain(table.hooks[builtin]);
      if (!prev || !sameRules(prev.insert, hook.insert) || !sameRules(prev.append, hook.append)) {
        table.hooks[builtin] = castDraft(hook);
      }
    }
  }
}
