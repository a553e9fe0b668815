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

import { type FamilyTables, TABLE_NAMES, type TableName, type TableState } from "../model/tables.js";
import type { IptablesBackend, RestoreOptions } from "./backend.js";
import { RestoreError, restorePartsOf } from "./backend.js";
import type { HoldAt } from "./exec.js";
import { holdSetUsers, textBytes, withDeletes } from "./restore-input.js";
import { parseSave, type SavedRule, type SavedTable } from "./save-parser.js";
import { builtinChains, outsideJumpTo } from "./saved-view.js";
import { isOurs, NO_PLAN, planTable, type TablePlan } from "./table-plan.js";

export {
  chainEdits,
  hooksInPlace,
  isOurs,
  OUR_CHAIN_PREFIX,
  planTable,
  sameHashes,
  type TablePlan,
} from "./table-plan.js";

/**
 * A write of some tables only (src/nat-first.ts): the others are neither planned nor touched,
 * whatever `desired` holds for them, and nothing is deleted: stale chains of ours stay until
 * the next full apply finds them.
 */
export interface SomeTables {
  readonly tables: readonly TableName[];
  /** How the program gets its input. */
  readonly restore?: RestoreOptions;
  /** Instead of the syncer's own: a write that is only a head start need not insist. */
  readonly retries?: number;
}

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
  private applied: Partial<Record<TableName, TableState>> | undefined;
  /** Tables last written by a SomeTables apply, whose stale chains the next full one looks for. */
  private readonly staleKept = new Set<TableName>();
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

  /** Reads the kernel's tables now, unless a view is cached: the next apply plans against it. */
  async read(): Promise<void> {
    if (!this.kernel) this.kernel = parseSave(await this.backend.save());
  }

  /** A save of the kernel's tables read just now by someone else (the start's detection): the view, unless one is cached. */
  adopt(save: string): void {
    this.kernel ??= parseSave(save);
  }

  /** Forget the cached kernel view: the next apply re-reads it (refresh timer, drift). */
  invalidate(): void {
    this.kernel = undefined;
    this.applied = undefined;
    this.staleKept.clear();
  }

  /**
   * `setsReady`: IP set members still being written (IpsetSyncer.begin): the
   * restore is loaded meanwhile, and each table whose rules use a set is
   * committed only once it settles (not at all if it rejects). `setsExist`:
   * the sets being created: the restore is planned and its program started
   * meanwhile, and reads its input once they exist (none of it if that rejects).
   */
  async apply(
    desired: FamilyTables,
    setsReady?: Promise<unknown>,
    setsExist?: Promise<unknown>,
    some?: SomeTables,
  ): Promise<SyncResult> {
    let backoff = this.initialBackoffMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.applyOnce(desired, setsReady, setsExist, some);
        this.foldDeletes = true;
        return r;
      } catch (e) {
        this.invalidate();
        this.foldDeletes = false;
        if (!(e instanceof RestoreError)) throw e;
        this.failures++;
        if (attempt >= (some?.retries ?? this.retries)) throw e;
        this.onRetry?.(attempt + 1, e);
        await this.sleep(backoff);
        backoff *= 2;
      }
    }
  }

  private async planTables(desired: FamilyTables, some?: SomeTables): Promise<TablePlan[]> {
    await this.read();
    const kernel = this.kernel as Map<string, SavedTable>;
    return TABLE_NAMES.map((name) =>
      some && !some.tables.includes(name)
        ? NO_PLAN
        : planTable(name, desired[name], kernel.get(name), this.applied?.[name], {
            keepStale: some !== undefined,
            findStale: this.staleKept.has(name),
          }),
    );
  }

  private async applyOnce(
    desired: FamilyTables,
    setsReady?: Promise<unknown>,
    setsExist?: Promise<unknown>,
    some?: SomeTables,
  ): Promise<SyncResult> {
    const plans = await this.planTables(desired, some);
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
    // One table written (nat-first, most changes): its parts as they are, not a copy (~500k at a cold start).
    const nonEmpty = inputs.filter((parts) => parts.length > 0);
    const main = nonEmpty.length === 1 ? nonEmpty[0] : ([] as string[]).concat(...inputs);
    const deletes = plans.map((p, i) => (folded[i] ? "" : p.deletes)).join("");
    let restoreMs = 0;
    const write = async (parts: readonly string[], hold?: HoldAt) => {
      let t0 = performance.now();
      setsExist?.then(
        () => (t0 = Math.max(t0, performance.now())),
        () => {},
      ); // waiting for the sets is not the restore's time
      await restorePartsOf(this.backend, parts, hold, some?.restore);
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
    const written = some?.tables ?? TABLE_NAMES;
    this.updateCache(desired, plans, (i) => folded[i] || deletesApplied, written);
    this.applied = { ...this.applied };
    for (const name of written) {
      this.applied[name] = desired[name];
      if (some) this.staleKept.add(name);
      else this.staleKept.delete(name);
    }
    if (main.length === 0) some?.restore?.onStarted?.();
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
    written: readonly TableName[],
  ): void {
    if (!this.kernel) return;
    for (const [i, name] of TABLE_NAMES.entries()) {
      if (!written.includes(name)) continue;
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
      // The planned chains as planned (a lookup by name each was ~40% of this at a cold start).
      const p = plans[i];
      for (let j = 0; j < p.wanted.length; j++) {
        const chain = j < p.written.length ? p.written[j] : p.kept[j - p.written.length];
        const rules = p.wanted[j].rules;
        if (have.chains.get(chain)?.rules !== rules)
          have.chains.set(chain, { name: chain, policy: "-", rules: rules as SavedRule[] });
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
