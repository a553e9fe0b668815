// Lookups in the table syncer's cached kernel view (iptables-save parsed)
// that a small change must not pay for with a scan of every chain: the
// built-in chains by name, and which chains' foreign rules jump where.

import { chainOf, type TableState } from "../model/tables.js";
import type { SavedChain, SavedTable } from "./save-parser.js";

/**
 * Whether a rule that stays after the plan (in the cached kernel view: one
 * without our hash, in a chain that is neither desired nor removed) jumps to a
 * removed chain. Desired chains and our hook rules are rewritten to the desired
 * rules, which only jump to desired chains (if they did not, the transaction
 * fails and the retry deletes in a second one, as before).
 */
export function outsideJumpTo(have: SavedTable | undefined, want: TableState, removed: readonly string[]): boolean {
  if (!have) return false;
  const gone = new Set(removed);
  const jumps = hashlessJumps(have);
  for (const target of removed) {
    for (const source of jumps.get(target) ?? []) {
      const c = have.chains.get(source);
      if (!c || gone.has(source) || chainOf(want, source)) continue;
      if (c.rules.some((r) => r.hash === undefined && jumpTarget(r.text) === target)) return true;
    }
  }
  return false;
}

const jumpTarget = (text: string) => /(?:^|\s)-[jg]\s+(\S+)/.exec(text)?.[1];

/**
 * Per kernel view: target chain → the chains holding a rule without our hash
 * that jumps to it, found once per read (scanning every chain per apply cost
 * O(table) for a one-policy change). Rules without our hash only ever enter a
 * view from iptables-save (the syncer writes hashed rules and keeps others'
 * as they are), so the index of a view stays a superset; callers check the
 * chains it names.
 */
const jumpIndex = new WeakMap<SavedTable, Map<string, string[]>>();

function hashlessJumps(have: SavedTable): Map<string, string[]> {
  let index = jumpIndex.get(have);
  if (index) return index;
  index = new Map();
  for (const c of have.chains.values()) {
    for (const r of c.rules) {
      const target = r.hash === undefined ? jumpTarget(r.text) : undefined;
      if (target === undefined) continue;
      const sources = index.get(target);
      if (!sources) index.set(target, [c.name]);
      else if (sources.at(-1) !== c.name) sources.push(c.name);
    }
  }
  jumpIndex.set(have, index);
  return index;
}

/** The only names a built-in chain has, in any table. */
const BUILTIN_NAMES = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/** A view's built-in chains (a policy other than `-`), looked up by name: not a scan of every chain. */
export function builtinChains(chains: ReadonlyMap<string, SavedChain>): SavedChain[] {
  const out: SavedChain[] = [];
  for (const name of BUILTIN_NAMES) {
    const c = chains.get(name);
    if (c && c.policy !== "-") out.push(c);
  }
  return out;
}
