// A family's tables of ours loaded whole, when none of them is in the kernel (the start, or
// the syncer's last retry, which replaces them), in one `nft -f` transaction whose text is
// rendered block by block as nft reads it: at `large` nft parses ~20 MB before it can
// evaluate and commit, and our rendering of it runs meanwhile instead of before. The views
// the syncer keeps of the loaded tables are built once nft has the whole text, while it
// evaluates and commits. The text is the very one table-text.ts renders (felix-dump, the
// floor), tables joined by a blank line, a table without sets, maps or chains left out.

import type { NftBackend } from "./backend.js";
import { emptyPart } from "./parts.js";
import { coldView, type NftDesired, type NftPlan } from "./plan.js";
import { tableTextParts } from "./table-text.js";

export interface WholeTable {
  readonly table: string;
  readonly want: NftDesired;
}

export interface WholeLoad {
  /** Per table, in the order given: its view once loaded (`after`; null: no table) and counts. */
  readonly plans: readonly NftPlan[];
  readonly bytesWritten: number;
  /** From nft's start to its exit (it reads while we render). */
  readonly restoreMs: number;
}

type TransactParts = NonNullable<NftBackend["transactParts"]>;

/**
 * Loads `tables` (each a part of parts.ts) into the family's empty kernel in one transaction;
 * `recreate`: each is first replaced (`add table; delete table`), so what is there goes.
 * Throws what the transaction (or a name or rule the renderer refuses) throws; nft is then
 * stopped before it has the whole text, or refuses it: nothing was written.
 */
export async function loadWhole(
  family: NftBackend["family"],
  tables: readonly WholeTable[],
  recreate: boolean,
  transactParts: TransactParts,
): Promise<WholeLoad> {
  let bytesWritten = 0;
  let lines = 0;
  const count = (part: string) => {
    bytesWritten += Buffer.byteLength(part);
    for (let at = part.indexOf("\n"); at !== -1; at = part.indexOf("\n", at + 1)) lines++;
    return part;
  };
  function* text(): Generator<string> {
    let between = "";
    for (const { table, want } of tables) {
      const replace = recreate ? `add table ${family} ${table}\ndelete table ${family} ${table}\n` : "";
      // `table … {`, its blocks (each starts with a tab or a newline), then "}\n".
      const parts = tableTextParts(family, table, want);
      const head = parts.next();
      const second = parts.next();
      if (head.done || second.done) continue;
      const empty = second.value === "}\n"; // no set, map or chain: not written (its replacement is)
      const opening = replace + (empty ? "" : head.value + second.value);
      if (!opening) continue;
      bytesWritten += Buffer.byteLength(between) + Buffer.byteLength(replace);
      if (!empty) count(head.value + second.value);
      yield between + opening;
      between = "\n";
      if (!empty) for (const part of parts) yield count(part);
    }
  }
  const v = family === "ip" ? 4 : 6;
  if (!recreate && tables.every((t) => emptyPart(t.want, v))) {
    // Nothing to load (no nft started): still no tables.
    return {
      plans: tables.map(({ want }) => ({ ...coldView(family, want), script: "", linesWritten: 0 })),
      bytesWritten: 0,
      restoreMs: 0,
    };
  }
  const t0 = performance.now();
  let sent = () => {};
  const allSent = new Promise<void>((r) => {
    sent = r;
  });
  const done = transactParts(text(), sent);
  // Once nft has the text (or has stopped), the views are built while it evaluates and commits.
  await Promise.race([allSent, done.catch(() => {})]);
  const plans = tables.map(({ want }) => ({ ...coldView(family, want), script: "", linesWritten: 0 }));
  await done;
  if (plans.length > 0) plans[0].linesWritten = lines;
  return { plans, bytesWritten, restoreMs: performance.now() - t0 };
}
