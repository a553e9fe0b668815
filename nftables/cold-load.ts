// Tables of ours loaded whole, when they are not in the kernel (the start, a table that
// is new, or the syncer's last retry, which replaces them), each in its own `nft -f`
// transaction whose text is rendered block by block as nft reads it: at `large` nft parses
// ~2 MB a table before it can evaluate and commit, and our rendering of it runs meanwhile
// instead of before. The views the syncer keeps of the loaded tables are built once nft has
// the whole text, while it evaluates and commits. The text is the very one table-text.ts
// renders (felix-dump, the floor), tables joined by a blank line, a table without sets, maps
// or chains left out.
//
// Why a transaction per table (the syncer's cold path): the kernel's cost of a transaction
// grows faster than its size (at `large`, the whole text in one transaction 5.1-5.6 s of
// system time, one transaction per table 3.7 s: nftables/README.md), and a table refused
// leaves the others in. Tables are
// independent (a jump or a lookup cannot leave its table), so no order is needed for nft;
// ColdSlots bounds how many nft processes run at once, both families together.

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

/** At most `n` cold loads at once, started in the order asked (one instance for both families). */
export class ColdSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  /** The most that ran at once (tests). */
  peak = 0;

  constructor(readonly n: number) {
    this.free = Math.max(1, n);
  }

  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    this.peak = Math.max(this.peak, this.n - this.free);
    try {
      return await f();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

/** The nft processes a cold start runs at once (both families): on two cores, two (nftables/README.md). */
export const COLD_LOADS = 2;

/**
 * The whole text of `tables` (see above), rendered as it is read; `written.tables` counts the
 * tables written. `counts` (when given) fills as it goes: every byte, and the newlines of the
 * tables' texts (neither the blank line between two nor a replacement's two lines).
 */
function* wholeText(
  family: NftBackend["family"],
  tables: readonly WholeTable[],
  recreate: boolean,
  written: { tables: number },
  counts?: { bytes: number; lines: number },
): Generator<string> {
  const count = (part: string) => {
    if (!counts) return part;
    counts.bytes += Buffer.byteLength(part);
    for (let at = part.indexOf("\n"); at !== -1; at = part.indexOf("\n", at + 1)) counts.lines++;
    return part;
  };
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
    if (counts) counts.bytes += Buffer.byteLength(between) + Buffer.byteLength(replace);
    if (!empty) count(head.value + second.value);
    written.tables++;
    yield between + opening;
    between = "\n";
    if (!empty) for (const part of parts) yield count(part);
  }
}

/** Nothing to load: no table of `tables` holds anything, and none is to be replaced. */
function nothingToLoad(family: NftBackend["family"], tables: readonly WholeTable[], recreate: boolean): boolean {
  const v = family === "ip" ? 4 : 6;
  return !recreate && tables.every((t) => emptyPart(t.want, v));
}

const views = (family: NftBackend["family"], tables: readonly WholeTable[]) =>
  tables.map(({ want }) => ({ ...coldView(family, want), script: "", linesWritten: 0 }));

/**
 * Loads `tables` (each a part of parts.ts) into the family's kernel in one transaction;
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
  if (nothingToLoad(family, tables, recreate)) {
    // Nothing to load (no nft started): still no tables.
    return { plans: views(family, tables), bytesWritten: 0, restoreMs: 0 };
  }
  const counts = { bytes: 0, lines: 0 };
  const t0 = performance.now();
  let sent = () => {};
  const allSent = new Promise<void>((r) => {
    sent = r;
  });
  const done = transactParts(wholeText(family, tables, recreate, { tables: 0 }, counts), sent);
  // Once nft has the text (or has stopped), the views are built while it evaluates and commits.
  await Promise.race([allSent, done.catch(() => {})]);
  const plans = views(family, tables);
  await done;
  if (plans.length > 0) plans[0].linesWritten = counts.lines;
  return { plans, bytesWritten: counts.bytes, restoreMs: performance.now() - t0 };
}

/**
 * loadWhole's text rendered now (stage 1 of a cold start: the main thread is then free while nft
 * loads it); `script` empty when there is nothing to load. Throws what the renderer refuses, before
 * anything is written. `views()` gives the tables' views once loaded: built after the text, so a
 * caller can start nft first (the views are not needed before nft is done).
 */
export function renderWhole(
  family: NftBackend["family"],
  tables: readonly WholeTable[],
): { script: string; bytes: number; views: () => NftPlan[] } {
  const written = { tables: 0 };
  const script = nothingToLoad(family, tables, false) ? "" : [...wholeText(family, tables, false, written)].join("");
  // Counted once on the whole text (not part by part: each part's count made V8 flatten it first).
  let lines = 0;
  for (let at = script.indexOf("\n"); at !== -1; at = script.indexOf("\n", at + 1)) lines++;
  lines -= Math.max(0, written.tables - 1); // the blank lines between tables
  return {
    script,
    bytes: Buffer.byteLength(script),
    views: () => {
      const plans = views(family, tables);
      if (plans.length > 0 && script !== "") plans[0].linesWritten = lines;
      return plans;
    },
  };
}
