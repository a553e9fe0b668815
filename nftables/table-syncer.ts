// Reconciles our nftables table of one family (`ip calico` or `ip6 calico`)
// with the desired tables and IP sets, as iptables/table-syncer.ts and
// ipset-syncer.ts do together for iptables: sets and chains live in one table
// here, so one transaction carries both, in an order that keeps references
// valid (plan.ts).
//
// The kernel is read (`nft -j list table`) only when the cached view is not
// trusted: at start, after `invalidate()` (the refresh timer, drift repair)
// and after a refused transaction. Otherwise the view is what the last
// successful transaction left, and only what changed since the desired state
// applied last is compared and written. A refused transaction changed
// nothing (nft applies all or nothing); it is retried with backoff after a
// fresh read, and the last retry replaces the whole table in one transaction
// (never a change's way: only after the diffs failed). Other tables
// (iptables-nft's `ip filter`, kube-proxy's `ip kube-proxy`, a host
// firewall's) are never named in what we write.

import { type NftBackend, NftError } from "./backend.js";
import { NFT_TABLE } from "./names.js";
import { type NftDesired, type NftPlanStats, planNft } from "./plan.js";
import { type NftView, parseNftJson } from "./view.js";

export interface NftSyncResult extends NftPlanStats {
  readonly bytesWritten: number;
  /** Time spent inside `nft -f`, ms. */
  readonly restoreMs: number;
}

export interface NftSyncerOptions {
  readonly retries?: number;
  readonly initialBackoffMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onRetry?: (attempt: number, error: Error) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class NftTableSyncer {
  /** The kernel's table as last read or written; null: no table; undefined: read it first. */
  private view: NftView | null | undefined;
  /** The desired state the view was last brought to. */
  private applied: NftDesired | undefined;
  readonly retries: number;
  readonly initialBackoffMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly onRetry?: (attempt: number, error: Error) => void;
  /** Refused transactions since start, for metrics. */
  failures = 0;

  constructor(
    readonly backend: NftBackend,
    o: NftSyncerOptions = {},
  ) {
    this.retries = o.retries ?? 5;
    this.initialBackoffMs = o.initialBackoffMs ?? 50;
    this.sleep = o.sleep ?? defaultSleep;
    this.onRetry = o.onRetry;
  }

  /** Forget the cached kernel view: the next apply reads the table and repairs any drift. */
  invalidate(): void {
    this.view = undefined;
    this.applied = undefined;
  }

  /**
   * Brings the family's table to `tables` and this family's sets of `sets`
   * (DesiredState.iptables.ipv4 / ipv6 and DesiredState.ipsets).
   */
  async apply(
    tables: NftDesired["tables"],
    sets: NftDesired["sets"],
    objects?: NftDesired["objects"],
  ): Promise<NftSyncResult> {
    let backoff = this.initialBackoffMs;
    for (let attempt = 0; ; attempt++) {
      try {
        // The last attempt replaces the table in one transaction without reading it, as
        // Felix does after repeated failures: whatever in it (or in its listing) made the
        // diffs fail goes with it, and packets see the old table or the new one.
        const recreate = attempt > 0 && attempt === this.retries;
        return await this.applyOnce(objects ? { tables, sets, objects } : { tables, sets }, recreate);
      } catch (e) {
        this.invalidate();
        if (!(e instanceof NftError)) throw e;
        this.failures++;
        if (attempt >= this.retries) throw e;
        this.onRetry?.(attempt + 1, e);
        await this.sleep(backoff);
        backoff *= 2;
      }
    }
  }

  /** The kernel's table as the syncer sees it (reads it when not cached). */
  async read(): Promise<NftView | null> {
    if (this.view === undefined) {
      const json = await this.backend.list();
      try {
        this.view = json === undefined ? null : parseNftJson(json);
      } catch (e) {
        throw new NftError(`cannot read our table's listing: ${(e as Error).message}`);
      }
    }
    return this.view;
  }

  private async applyOnce(desired: NftDesired, recreate: boolean): Promise<NftSyncResult> {
    const family = this.backend.family;
    const plan = recreate ? planNft(family, desired, null) : planNft(family, desired, await this.read(), this.applied);
    // `add table` first: deleting a table that is not there would fail the transaction.
    const script = recreate
      ? `add table ${family} ${NFT_TABLE}\ndelete table ${family} ${NFT_TABLE}\n${plan.script}`
      : plan.script;
    let restoreMs = 0;
    if (script) {
      const t0 = performance.now();
      await this.backend.transact(script);
      restoreMs = performance.now() - t0;
    }
    this.view = plan.after;
    this.applied = desired;
    const { script: _s, after: _a, ...stats } = plan;
    return { ...stats, bytesWritten: Buffer.byteLength(script), restoreMs };
  }
}
