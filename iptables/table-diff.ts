// What the kernel has vs what it should have, per chain, for people
// (`felix-dump diff --live`). Uses the same ownership rules as the syncer.

import type { SavedChain, SavedTable } from "./save-parser.js";
import { isOurs, OUR_CHAIN_PREFIX } from "./table-syncer.js";
import { type FamilyTables, TABLE_NAMES } from "./tables.js";

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
    for (const chain of Object.keys(w.chains).sort()) {
      const k = h.get(chain);
      if (!k) {
        out.push({ table, chain, problem: "missing" });
        continue;
      }
      const wantHashes = w.chains[chain].rules.map((r) => r.hash);
      const haveHashes = k.rules.map((r) => r.hash ?? "?");
      if (wantHashes.join() !== haveHashes.join()) {
        out.push({ table, chain, problem: "differs", detail: `${haveHashes.length} rules, want ${wantHashes.length}` });
      }
    }
    for (const chain of [...h.keys()].sort()) {
      if (chain.startsWith(OUR_CHAIN_PREFIX) && !w.chains[chain]) out.push({ table, chain, problem: "stale" });
    }
    for (const [b, hook] of Object.entries(w.hooks)) {
      const rules = h.get(b)?.rules ?? [];
      const ours = rules.filter(isOurs).map((r) => r.hash ?? "?");
      const head = rules.slice(0, hook.insert.length).map((r) => r.hash ?? "?");
      const tail = hook.append.length ? rules.slice(-hook.append.length).map((r) => r.hash ?? "?") : [];
      const ok =
        ours.length === hook.insert.length + hook.append.length &&
        head.join() === hook.insert.map((r) => r.hash).join() &&
        tail.join() === hook.append.map((r) => r.hash).join();
      if (!ok) out.push({ table, chain: b, problem: "hooks out of place" });
    }
  }
  return out;
}
