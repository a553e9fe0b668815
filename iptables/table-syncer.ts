// Reconciles one IP family's tables with the desired state, touching only
// what we own: `cali-` chains, and rules with our hash comment in the
// kernel's built-in chains. Everything else (kube-proxy's KUBE-*, docker's,
// a host firewall's rules, even in the same built-in chains) is left alone.
//
// Each apply reads the kernel (iptables-save) unless the cached view is still
// trusted, diffs by rule hashes, and writes the difference with
// iptables-restore --noflush, one transaction for all tables:
//   - a new chain is declared and filled; a changed one is edited in place
//     (-D/-I by position) when its surviving rules keep their order and the
//     edit is smaller than the chain, else declared (which flushes it) and
//     refilled;
//   - our rules in a built-in chain are kept as a block at the top (inserts)
//     and bottom (appends); if the block is off, our rules there are deleted
//     by value and re-inserted, other rules keep their places (chainInsertMode
//     Append is rendered as hooks that only append: rules/static.ts);
//   - stale `cali-` chains are flushed and deleted in that transaction once
//     nothing of ours jumps to them; only if a rule we leave in place jumps
//     to one (or such a transaction failed) are they deleted in a second one.
// A failed restore is retried with backoff after re-reading the kernel (a
// full resync), so a half-applied view never persists. The kernel applies a
// restore atomically per table, so no chain is ever left half-written.

import {
  chainNames,
  chainOf,
  changedChains,
  type FamilyTables,
  type HookRules,
  TABLE_NAMES,
  type TableName,
  type TableState,
} from "../model/tables.js";
import type { IptablesBackend } from "./backend.js";
import { RestoreError } from "./backend.js";
import { type HoldAt, holdsSettled } from "./exec.js";
import { holdSetUsers, textBytes, withDeletes } from "./restore-input.js";
import { assertLineCount, assertSafeChainName } from "./safe-text.js";
import { parseSave, type SavedChain, type SavedRule, type SavedTable } from "./save-parser.js";
import { builtinChains, outsideJumpTo } from "./saved-view.js";

export const OUR_CHAIN_PREFIX = "cali-";

export interface SyncResult {
  /** Chains created or rewritten. */
  readonly chainsWritten: number;
  readonly chainsDeleted: number;
  /** Built-in chains whose hook rules were (re)written. */
  readonly hooksWritten: number;
  readonly linesWritten: number;
  readonly bytesWritten: number;
  /** Time spent inside iptables-restore, ms. */
  readonly restoreMs: number;
}

export interface SyncerOptions {
  readonly retries?: number;
  readonly initialBackoffMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onRetry?: (attempt: number, error: Error) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class TableSyncer {
  private kernel: Map<string, SavedTable> | undefined;
  /** The desired tables the cached kernel view was last brought to. */
  private applied: FamilyTables | undefined;
  readonly retries: number;
  readonly initialBackoffMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly onRetry?: (attempt: number, error: Error) => void;
  /** Restore failures since start, for metrics. */
  failures = 0;
  /** Off after a restore with folded deletions failed: the retry deletes in a transaction of its own. */
  private foldDeletes = true;

  constructor(
    readonly backend: IptablesBackend,
    o: SyncerOptions = {},
  ) {
    this.retries = o.retries ?? 5;
    this.initialBackoffMs = o.initialBackoffMs ?? 50;
    this.sleep = o.sleep ?? defaultSleep;
    this.onRetry = o.onRetry;
  }

  /** Forget the cached kernel view: the next apply re-reads it (refresh timer, drift). */
  invalidate(): void {
    this.kernel = undefined;
    this.applied = undefined;
  }

  /**
   * `setsReady`: IP set members still being written (IpsetSyncer.begin): the
   * restore is loaded meanwhile, and each table whose rules use a set is
   * committed only once it settles (not at all if it rejects). `setsExist`:
   * the sets being created: the restore is planned and its program started
   * meanwhile, and reads its input once they exist (none of it if that rejects).
   */
  async apply(desired: FamilyTables, setsReady?: Promise<unknown>, setsExist?: Promise<unknown>): Promise<SyncResult> {
    let backoff = this.initialBackoffMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.applyOnce(desired, setsReady, setsExist);
        this.foldDeletes = true;
        return r;
      } catch (e) {
        this.invalidate();
        this.foldDeletes = false;
        if (!(e instanceof RestoreError)) throw e;
        this.failures++;
        if (attempt >= this.retries) throw e;
        this.onRetry?.(attempt + 1, e);
        await this.sleep(backoff);
        backoff *= 2;
      }
    }
  }

  private async planTables(desired: FamilyTables): Promise<TablePlan[]> {
    if (!this.kernel) this.kernel = parseSave(await this.backend.save());
    const kernel = this.kernel;
    return TABLE_NAMES.map((name) => planTable(name, desired[name], kernel.get(name), this.applied?.[name]));
  }

  private async applyOnce(
    desired: FamilyTables,
    setsReady?: Promise<unknown>,
    setsExist?: Promise<unknown>,
  ): Promise<SyncResult> {
    const plans = await this.planTables(desired);
    // A table's stale chains are deleted in its main transaction (legacy rewrites the whole
    // table per restore, so a second one doubles the cost) unless a rule we do not rewrite
    // jumps to one: then -X would fail the whole transaction, so they go in a second one.
    const folded = plans.map(
      (p, i) =>
        this.foldDeletes &&
        p.removed.length > 0 &&
        p.input.length > 0 &&
        !outsideJumpTo(this.kernel?.get(TABLE_NAMES[i]), desired[TABLE_NAMES[i]], p.removed),
    );
    // Parts, not one string: the restore input is streamed (tens of megabytes at a cold start).
    const inputs = plans.map((p, i) => (folded[i] ? withDeletes(p) : p.input));
    const main = ([] as string[]).concat(...inputs);
    const deletes = plans.map((p, i) => (folded[i] ? "" : p.deletes)).join("");
    let restoreMs = 0;
    const write = async (parts: readonly string[], hold?: HoldAt) => {
      let t0 = performance.now();
      setsExist?.then(
        () => (t0 = Math.max(t0, performance.now())),
        () => {},
      ); // waiting for the sets is not the restore's time
      if (this.backend.restoreParts) await this.backend.restoreParts(parts, hold);
      else {
        await holdsSettled(hold);
        await this.backend.restore(parts.join(""));
      }
      restoreMs += performance.now() - t0;
    };
    const start = setsExist && { indexes: new Set([0]), until: setsExist };
    const commits = setsReady && holdSetUsers(inputs, setsReady);
    if (main.length > 0) await write(main, commits ? { ...commits, next: start } : start);
    let deletesApplied = true;
    if (deletes) {
      try {
        await write([deletes]);
      } catch (e) {
        // A chain someone else still jumps to cannot go yet; it stays flushed
        // (harmless) and the next resync tries again.
        if (!(e instanceof RestoreError)) throw e;
        deletesApplied = false;
      }
    }
    this.updateCache(desired, plans, (i) => folded[i] || deletesApplied);
    this.applied = desired;
    // Counted while planning: scanning tens of megabytes of restore input with regexes costs ~100 ms at scale.
    const sum = (f: (p: TablePlan) => number) => plans.reduce((n, p) => n + f(p), 0);
    return {
      chainsWritten: sum((p) => p.declared),
      chainsDeleted: sum((p) => p.removed.length),
      hooksWritten: sum((p) => p.hooksWritten),
      linesWritten: sum((p) => p.lines),
      bytesWritten: textBytes(main) + Buffer.byteLength(deletes),
      restoreMs,
    };
  }

  /**
   * After a successful write the kernel holds what we planned: update the
   * cached view instead of re-reading it. Drift made by others is found by
   * the periodic refresh (`invalidate`), as in Felix.
   */
  private updateCache(
    desired: FamilyTables,
    plans: readonly TablePlan[],
    deletesApplied: (table: number) => boolean,
  ): void {
    if (!this.kernel) return;
    for (const [i, name] of TABLE_NAMES.entries()) {
      const want = desired[name];
      const have: SavedTable = this.kernel.get(name) ?? { name, chains: new Map() };
      this.kernel.set(name, have);
      for (const chain of plans[i].removed) {
        if (deletesApplied(i)) have.chains.delete(chain);
        else have.chains.set(chain, { name: chain, policy: "-", rules: [] });
      }
      // Rendered rules are SavedRules already (text and hash), and only built-in chains are
      // edited in this view (below): the snapshot's own list, not a copy (55k lists at scale).
      // Chains found equal after a read take it too: their parsed rules hold the save output.
      for (const chain of [...plans[i].written, ...plans[i].kept]) {
        const c = chainOf(want, chain)!;
        if (have.chains.get(chain)?.rules !== c.rules)
          have.chains.set(chain, { name: chain, policy: "-", rules: c.rules as SavedRule[] });
      }
      for (const c of builtinChains(have.chains)) {
        const hook = want.hooks[c.name] ?? { insert: [], append: [] };
        const foreign = c.rules.filter((r) => !isOurs(r));
        c.rules.splice(0, c.rules.length, ...hook.insert, ...foreign, ...hook.append);
      }
      for (const [b, hook] of Object.entries(want.hooks)) {
        if (!have.chains.has(b))
          have.chains.set(b, { name: b, policy: "ACCEPT", rules: [...hook.insert, ...hook.append] });
      }
    }
  }
}

/** Ours: rules with our hash, or older rules of ours that jump to a cali- chain without one. */
export function isOurs(r: { text: string; hash?: string }): boolean {
  return r.hash !== undefined || /-[jg] cali-/.test(r.text);
}

function hashesOf(rules: readonly { hash?: string }[]): string {
  return rules.map((r) => r.hash ?? "?").join(",");
}

/** Whether a kernel chain holds exactly the desired rules (by hash). */
export function sameHashes(have: readonly { hash?: string }[], want: readonly { hash?: string }[]): boolean {
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
  /** Chains declared (flushed) by `main`: rewritten or removed. */
  readonly declared: number;
  /** Built-in chains whose hook rules `main` rewrites. */
  readonly hooksWritten: number;
  /** Lines of `main` and `deletes` (declarations and rule commands). */
  readonly lines: number;
}

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
): TablePlan {
  const declare: string[] = [];
  // Lines as parts, joined once: a rewritten chain contributes its `-A <chain> `
  // prefix and each rule's text, not a new string per line (179k at scale).
  const body: string[] = [];
  let bodyLines = 0;
  const line = (...parts: string[]) => {
    body.push(...parts, "\n");
    bodyLines++;
  };
  const deletes: string[] = [];
  const written: string[] = [];
  const removed: string[] = [];
  const kept: string[] = [];
  const haveChains: Map<string, SavedChain> = have?.chains ?? new Map();

  const candidates = applied ? changedChains(applied, want) : chainNames(want);
  if (!applied) for (const chain of haveChains.keys()) if (!chainOf(want, chain)) candidates.push(chain);
  for (const chain of candidates.sort()) {
    const w = chainOf(want, chain);
    const h = haveChains.get(chain);
    if (!w) {
      if (h && chain.startsWith(OUR_CHAIN_PREFIX)) {
        declare.push(`:${chain} - [0:0]`);
        deletes.push(`-X ${chain}`);
        removed.push(chain);
      }
      continue;
    }
    if (h && sameHashes(h.rules, w.rules)) {
      kept.push(chain);
      continue;
    }
    assertSafeChainName(chain);
    written.push(chain);
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
  const counts = { declared: declare.length, hooksWritten, lines: declare.length + bodyLines + deletes.length };
  if (declare.length === 0 && bodyLines === 0)
    return { input: [], main: "", deletes: del, written, removed, kept, ...counts };
  const input = [`*${name}\n${declare.map((d) => `${d}\n`).join("")}`].concat(body, "COMMIT\n");
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
