// What the kernel has vs what it should have, per chain, for people
// (`felix-dump diff --live`). Uses the same ownership rules as the syncer.

import { chainNames, chainOf, type FamilyTables, TABLE_NAMES } from "../model/tables.js";
import type { SavedChain, SavedTable } from "./save-parser.js";
import { hooksInPlace, OUR_CHAIN_PREFIX, sameHashes } from "./table-syncer.js";

export interface TableDifference {
  readonly table: string;
  readonly chain: string;
  readonly problem: "missing" | "differs" | "stale" | "hooks out of place";
  readonly detail?: string;
}

export function diffTables(want: FamilyTables, have: Map<string, SavedTable>): TableDifference[] {
  const out: TableDifference[] = [];
  for (const table of TABLE_NAMES) {
    const w = want[table];
    const h: Map<string, SavedChain> = have.get(table)?.chains ?? new Map();
    for (const chain of chainNames(w).sort()) {
      const k = h.get(chain);
      if (!k) {
        out.push({ table, chain, problem: "missing" });
        continue;
      }
      const want = chainOf(w, chain)!.rules;
      if (!sameHashes(k.rules, want)) {
        out.push({ table, chain, problem: "differs", detail: `${k.rules.length} rules, want ${want.length}` });
      }
    }
    for (const chain of [...h.keys()].sort()) {
      if (chain.startsWith(OUR_CHAIN_PREFIX) && !chainOf(w, chain)) out.push({ table, chain, problem: "stale" });
    }
    for (const [b, hook] of Object.entries(w.hooks)) {
      if (!hooksInPlace(h.get(b)?.rules ?? [], hook)) out.push({ table, chain: b, problem: "hooks out of place" });
    }
  }
  return out;
}
