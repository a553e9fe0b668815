// Planning one table's write (table-syncer.ts): which of our chains to
// declare and fill, edit in place, keep, or delete, and our hook rules in the
// kernel's built-in chains, from the desired table and the kernel's view.

import { isFollowerHash } from "../model/hash.js";
import {
  chainNames,
  chainOf,
  changedChains,
  type HookRules,
  type RenderedChain,
  type TableName,
  type TableState,
} from "../model/tables.js";
import { assertLineCount, assertSafeChainName } from "./safe-text.js";
import type { SavedChain, SavedRule, SavedTable } from "./save-parser.js";
import { builtinChains } from "./saved-view.js";

export const OUR_CHAIN_PREFIX = "cali-";

/** Ours: rules with our hash, or older rules of ours that jump to a cali- chain without one. */
export function isOurs(r: { text: string; hash?: string }): boolean {
  return r.hash !== undefined || /-[jg] cali-/.test(r.text);
}

function hashesOf(rules: readonly { hash?: string }[]): string {
  return rules.map((r) => r.hash ?? "?").join(",");
}

/**
 * Whether a kernel chain holds exactly the desired rules (by hash). A one-id chain (Chain.oneId:
 * its rules after the first have follower hashes) matches a kernel chain of as many rules whose
 * first has its id and whose others have none (as written) or the same followers (the syncer's
 * own view). What that cannot see: someone replacing a later rule by one without an id, keeping
 * the count; kube-proxy's large cluster mode rules carry no id at all.
 */
export function sameHashes(have: readonly { hash?: string }[], want: readonly { hash?: string }[]): boolean {
  if (want.length > 1 && isFollowerHash(want[1].hash)) {
    return (
      have.length === want.length &&
      have[0].hash === want[0].hash &&
      have.every((r, i) => i === 0 || r.hash === undefined || r.hash === want[i].hash)
    );
  }
  return hashesOf(have) === hashesOf(want);
}

/** Whether our rules in a built-in chain are exactly the desired inserts on top and appends at the bottom. */
export function hooksInPlace(rules: readonly SavedRule[], hook: HookRules): boolean {
  const ours = rules.filter(isOurs);
  const tail = hook.append.length ? rules.slice(-hook.append.length) : [];
  return (
    ours.length === hook.insert.length + hook.append.length &&
    sameHashes(rules.slice(0, hook.insert.length), hook.insert) &&
    sameHashes(tail, hook.append)
  );
}

/** One table's restore input (none when nothing to do), its deletions, and the chains each touches. */
export interface TablePlan {
  /** The main transaction as parts whose concatenation is the text (rules' texts are not copied); the last is `COMMIT\n`. */
  readonly input: readonly string[];
  /** `input` joined. */
  readonly main: string;
  readonly deletes: string;
  /** Chains (re)written or edited by `main`. */
  readonly written: readonly string[];
  /** Stale chains flushed by `main` and deleted by `deletes`. */
  readonly removed: readonly string[];
  /** Chains compared and found equal to the desired ones (not written). */
  readonly kept: readonly string[];
  /** The desired chains of `written` and `kept`, in their order (the cache takes them without a lookup). */
  readonly wanted: readonly RenderedChain[];
  /** Chains declared (flushed) by `main`: rewritten or removed. */
  readonly declared: number;
  /** Built-in chains whose hook rules `main` rewrites. */
  readonly hooksWritten: number;
  /** Lines of `main` and `deletes` (declarations and rule commands). */
  readonly lines: number;
}

/** The plan of a table left alone. */
export const NO_PLAN: TablePlan = {
  input: [],
  main: "",
  deletes: "",
  written: [],
  removed: [],
  kept: [],
  wanted: [],
  declared: 0,
  hooksWritten: 0,
  lines: 0,
};

/**
 * Plans one table. `applied` is what `have` was last brought to: only chains
 * that are not the same object there are compared (snapshots share unchanged
 * chains and shards), so a small change costs O(change), not O(table).
 */
export function planTable(
  name: TableName,
  want: TableState,
  have: SavedTable | undefined,
  applied?: TableState,
  /** keepStale: delete no chain of ours (SomeTables); findStale: look for stale ones even with `applied`. */
  stale: { keepStale?: boolean; findStale?: boolean } = {},
): TablePlan {
  const declare: string[] = [];
  // Lines as parts, joined once: a rewritten chain contributes its `-A <chain> `
  // prefix and each rule's text, not a new string per line (179k at scale).
  // Part 0 is kept for the header (the input is this array: no copy of its ~500k parts).
  const body: string[] = [""];
  let bodyLines = 0;
  const line = (...parts: string[]) => {
    body.push(...parts, "\n");
    bodyLines++;
  };
  const deletes: string[] = [];
  const written: string[] = [];
  const removed: string[] = [];
  const kept: string[] = [];
  const keptChains: RenderedChain[] = [];
  const writtenChains: RenderedChain[] = [];
  const haveChains: Map<string, SavedChain> = have?.chains ?? new Map();

  const candidates = applied ? changedChains(applied, want) : chainNames(want);
  if ((!applied || stale.findStale) && !stale.keepStale)
    for (const chain of haveChains.keys()) if (!chainOf(want, chain)) candidates.push(chain);
  // A chain can be both changed and stale (findStale): planned once. Without `applied` the names
  // are distinct already (the table's, and kernel chains not among them): no set of 55k at a cold start.
  const order = applied ? [...new Set(candidates)] : candidates;
  for (const chain of order.sort()) {
    const w = chainOf(want, chain);
    const h = haveChains.get(chain);
    if (!w) {
      if (h && chain.startsWith(OUR_CHAIN_PREFIX) && !stale.keepStale) {
        declare.push(`:${chain} - [0:0]`);
        deletes.push(`-X ${chain}`);
        removed.push(chain);
      }
      continue;
    }
    if (h && sameHashes(h.rules, w.rules)) {
      kept.push(chain);
      keptChains.push(w);
      continue;
    }
    assertSafeChainName(chain);
    written.push(chain);
    writtenChains.push(w);
    const edits = h && chainEdits(chain, h.rules, w.rules);
    if (edits) {
      for (const e of edits) line(e);
      continue;
    }
    declare.push(`:${chain} - [0:0]`);
    const prefix = `-A ${chain} `;
    for (const r of w.rules) {
      body.push(prefix, r.text, "\n");
      bodyLines++;
    }
  }
  const builtins = new Set([...Object.keys(want.hooks), ...builtinChains(haveChains).map((c) => c.name)]);
  let hooksWritten = 0;
  for (const b of [...builtins].sort()) {
    const hook = want.hooks[b] ?? { insert: [], append: [] };
    const rules = haveChains.get(b)?.rules ?? [];
    if (hooksInPlace(rules, hook)) continue;
    hooksWritten++;
    for (const r of rules.filter(isOurs)) line(`-D ${b} `, r.text);
    for (const [i, r] of hook.insert.entries()) line(`-I ${b} ${i + 1} `, r.text);
    for (const r of hook.append) line(`-A ${b} `, r.text);
  }
  const del = deletes.length ? `*${name}\n${deletes.join("\n")}\nCOMMIT\n` : "";
  const counts = {
    wanted: writtenChains.concat(keptChains),
    declared: declare.length,
    hooksWritten,
    lines: declare.length + bodyLines + deletes.length,
  };
  if (declare.length === 0 && bodyLines === 0)
    return { input: [], main: "", deletes: del, written, removed, kept, ...counts };
  body[0] = declare.length > 0 ? `*${name}\n${restoreDeclarationOrder(declare).join("\n")}\n` : `*${name}\n`;
  body.push("COMMIT\n");
  const input = body;
  assertLineCount(input, declare.length + bodyLines + 2, name);
  return {
    input,
    get main() {
      return input.join("");
    },
    deletes: del,
    written,
    removed,
    kept,
    ...counts,
  };
}

/**
 * Chain declarations of a restore input in the order iptables-legacy-restore creates them
 * fastest: descending. libiptc keeps user chains in one sorted linked list with a sparse index
 * (rebuilt only every few hundred new chains) and looks each declared name up and inserts it by
 * walking that list with strcmp; names arriving in ascending order each walk to the list's end.
 * Measured at `large`, a cold nat restore of 56k chains: user time 2.6-2.7 → 1.8-2.1 s
 * (iptables-nft-restore 57 → 51 s). Only declarations (which create or flush) move; rules keep
 * ascending chain order. `names` comes sorted ascending and is reversed in place.
 */
export function restoreDeclarationOrder<T>(names: T[]): T[] {
  return names.reverse();
}

/**
 * The -D/-I lines turning `have` into `want` in place, or undefined when a
 * rewrite is as small or the surviving rules changed order. Rule hashes are
 * unique within a chain, so a rule is kept exactly when its hash is wanted.
 */
export function chainEdits(
  chain: string,
  have: readonly { hash?: string }[],
  want: readonly { text: string; hash: string }[],
): string[] | undefined {
  const wantAt = new Map(want.map((r, i) => [r.hash, i]));
  const kept = new Set<string>();
  const deletes: number[] = [];
  let last = -1;
  for (const [i, r] of have.entries()) {
    const at = r.hash === undefined ? undefined : wantAt.get(r.hash);
    if (at === undefined || kept.has(r.hash!)) {
      deletes.push(i);
      continue;
    }
    if (at < last) return undefined; // reordered
    last = at;
    kept.add(r.hash!);
  }
  const inserts = want.flatMap((r, i) => (kept.has(r.hash) ? [] : [i]));
  if (deletes.length + inserts.length >= want.length) return undefined;
  // Deleting bottom-up keeps the remaining numbers valid; inserting top-down
  // puts each rule at its final position, since all rules above it are final.
  return [
    ...deletes.reverse().map((i) => `-D ${chain} ${i + 1}`),
    ...inserts.map((i) => `-I ${chain} ${i + 1} ${want[i].text}`),
  ];
}
