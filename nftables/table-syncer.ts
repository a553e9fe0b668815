// Reconciles our nftables table of one family (`ip calico` or `ip6 calico`)
// with the desired tables and IP sets, as iptables/table-syncer.ts and
// ipset-syncer.ts do together for iptables: sets and chains live in one table
// here, so one transaction carries both, in an order that keeps references
// valid (plan.ts).
//
// The kernel is read (over netlink, else `nft -j list table`) only when the cached view is not
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
import { applyPlan, type NftDesired, type NftPlanStats, planNft, setAfter } from "./plan.js";
import { type NftView, parseNftJson } from "./view.js";

export interface NftSyncResult extends NftPlanStats {
  /** Bytes of the `nft -f` script, or of the netlink batch when it went that way. */
  readonly bytesWritten: number;
  /** Time spent inside `nft -f` or the netlink batch, ms. */
  readonly restoreMs: number;
  /** How the transaction went: none (in sync), netlink, or nft -f. */
  readonly via: "none" | "netlink" | "nft";
  /** Why a change the backend could write over netlink went through `nft -f`. */
  readonly fallback?: string;
}

export interface NftSyncerOptions {
  readonly retries?: number;
  readonly initialBackoffMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onRetry?: (attempt: number, error: Error) => void;
  /** A change went through `nft -f` because the netlink writer could not express it. */
  readonly onFallback?: (reason: string) => void;
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
  private readonly onFallback?: (reason: string) => void;
  /** Refused transactions since start, for metrics. */
  failures = 0;
  /** Changes that went through `nft -f` though the backend writes over netlink. */
  fallbacks = 0;

  constructor(
    readonly backend: NftBackend,
    o: NftSyncerOptions = {},
  ) {
    this.retries = o.retries ?? 5;
    this.initialBackoffMs = o.initialBackoffMs ?? 50;
    this.sleep = o.sleep ?? defaultSleep;
    this.onRetry = o.onRetry;
    this.onFallback = o.onFallback;
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
      if (this.backend.readView) {
        try {
          this.view = await this.backend.readView();
        } catch (e) {
          throw new NftError(`cannot read our table over netlink: ${(e as Error).message}`);
        }
        return this.view;
      }
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
    const before = recreate ? null : await this.read();
    const plan = recreate ? planNft(family, desired, null) : planNft(family, desired, before, this.applied);
    // `add table` first: deleting a table that is not there would fail the transaction.
    const script = recreate
      ? `add table ${family} ${NFT_TABLE}\ndelete table ${family} ${NFT_TABLE}\n${plan.script}`
      : plan.script;
    let restoreMs = 0;
    let bytesWritten = Buffer.byteLength(script);
    let via: NftSyncResult["via"] = script ? "nft" : "none";
    let fallback: string | undefined;
    if (script) {
      const t0 = performance.now();
      const w =
        !recreate && plan.commands && this.backend.write
          ? await this.backend.write(plan.commands, {
              setKey: (n) => setAfter(before, plan, n),
              elementsBefore: (n) => before?.sets.get(n)?.elements,
            })
          : undefined;
      if (w && "bytes" in w) {
        via = "netlink";
        bytesWritten = w.bytes;
      } else {
        if (w) {
          fallback = w.unsupported;
          this.fallbacks++;
          this.onFallback?.(fallback);
        }
        await this.backend.transact(script);
      }
      restoreMs = performance.now() - t0;
    }
    this.view = applyPlan(before, plan);
    this.applied = desired;
    const { script: _s, after: _a, delta: _d, commands: _c, ...stats } = plan;
    return { ...stats, bytesWritten, restoreMs, via, ...(fallback ? { fallback } : {}) };
  }
}
