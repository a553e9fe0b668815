// Reconciles our nftables tables of one family (`ip calico` and `ip
// calico-nat`, or the ip6 ones: parts.ts splits the desired state between
// them) with the desired tables and IP sets, as iptables/table-syncer.ts and
// ipset-syncer.ts do together for iptables: sets and chains live in the same
// tables here, so one transaction carries both, for every table of ours, in
// an order that keeps references valid (plan.ts).
//
// A table is read (over netlink, else `nft -j list table`) only when the cached view is not
// trusted: at start, after `invalidate()` (the refresh timer, drift repair)
// and after a refused transaction. Otherwise the view is what the last
// successful transaction left, and only what changed since the desired state
// applied last is compared and written. A refused transaction changed
// nothing (nft applies all or nothing); it is retried with backoff after a
// fresh read, and the last retry replaces our tables in one transaction
// (never a change's way: only after the diffs failed). Other tables
// (iptables-nft's `ip filter`, kube-proxy's `ip kube-proxy`, a host
// firewall's) are never named in what we write.

import { type NftBackend, NftError } from "./backend.js";
import { loadWhole } from "./cold-load.js";
import { NFT_NAT_TABLES, NFT_TABLE } from "./names.js";
import { DesiredSplit, emptyPart } from "./parts.js";
import { applyPlan, type NftDesired, type NftPlan, type NftPlanStats, planNft, setAfter } from "./plan.js";
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
  /** Per table of ours, the kernel's as last read or written; null: no table; absent: read it first. */
  private readonly views = new Map<string, NftView | null>();
  /** Per table, the desired part the view was last brought to. */
  private readonly applied = new Map<string, NftDesired>();
  private readonly split = new DesiredSplit();
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

  /** Forget the cached kernel views: the next apply reads our tables and repairs any drift. */
  invalidate(): void {
    this.views.clear();
    this.applied.clear();
  }

  /**
   * Brings the family's tables to `tables` and this family's sets of `sets`
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
        // The last attempt replaces our tables in one transaction without reading them, as
        // Felix does after repeated failures: whatever in them (or in their listing) made the
        // diffs fail goes with it, and packets see the old tables or the new ones.
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

  /** Our table `table` as the syncer sees it (reads it when not cached). */
  async read(table = NFT_TABLE): Promise<NftView | null> {
    const cached = this.views.get(table);
    if (cached !== undefined) return cached;
    let view: NftView | null;
    if (this.backend.readView) {
      try {
        view = await this.backend.readView(table);
      } catch (e) {
        throw new NftError(`cannot read our table ${table} over netlink: ${(e as Error).message}`);
      }
    } else {
      const json = await this.backend.list(table);
      try {
        view = json === undefined ? null : parseNftJson(json);
      } catch (e) {
        throw new NftError(`cannot read our table ${table}'s listing: ${(e as Error).message}`);
      }
    }
    this.views.set(table, view);
    return view;
  }

  private async applyOnce(desired: NftDesired, recreate: boolean): Promise<NftSyncResult> {
    const family = this.backend.family;
    // One plan per table of ours, all in one transaction (nft -f and a netlink batch are all or nothing).
    const tables: { table: string; want: NftDesired; before: NftView | null }[] = [];
    for (const { table, desired: want } of this.split.split(desired)) {
      tables.push({ table, want, before: recreate ? null : await this.read(table) });
    }
    // None of our tables there (the start; the last retry replaces them): nft reads the text as it renders.
    if (this.backend.transactParts && tables.every((t) => t.before === null)) {
      const r = await loadWhole(family, tables, recreate, this.backend.transactParts.bind(this.backend));
      tables.forEach((t, i) => {
        this.views.set(t.table, r.plans[i].after ?? null);
        this.applied.set(t.table, t.want);
      });
      const via = r.bytesWritten > 0 ? "nft" : "none";
      return { ...sumStats(r.plans), bytesWritten: r.bytesWritten, restoreMs: via === "nft" ? r.restoreMs : 0, via };
    }
    const parts: { table: string; want: NftDesired; before: NftView | null; plan: NftPlan }[] = [];
    for (const { table, want, before } of tables) {
      if (NFT_NAT_TABLES.indexOf(table) > 0 && emptyPart(want, family === "ip" ? 4 : 6)) {
        // A nat shard without services: no table (one that is there goes, through `nft -f`).
        parts.push({ table, want, before, plan: tableGone(family, table, before !== null) });
        continue;
      }
      const plan = recreate
        ? planNft(family, want, null, undefined, table)
        : planNft(family, want, before, this.applied.get(table), table);
      parts.push({ table, want, before, plan });
    }
    // `add table` first: deleting a table that is not there would fail the transaction.
    const replace = (t: string) => `add table ${family} ${t}\ndelete table ${family} ${t}\n`;
    // A blank line between tables: a cold start loads what renderNftTable prints.
    // The `nft -f` text only when it is written that way (a plan's commands go over netlink).
    const scriptText = () =>
      parts
        .map((p) => (recreate ? replace(p.table) : "") + p.plan.script)
        .filter(Boolean)
        .join("\n");
    const written = parts.filter((p) => (p.plan.commands ? p.plan.commands.length > 0 : p.plan.script !== ""));
    let restoreMs = 0;
    let bytesWritten = 0;
    let via: NftSyncResult["via"] = recreate || written.length > 0 ? "nft" : "none";
    let fallback: string | undefined;
    if (via === "nft") {
      const t0 = performance.now();
      const part = (t = NFT_TABLE) => parts.find((p) => p.table === t);
      const w =
        !recreate && written.every((p) => p.plan.commands) && this.backend.write
          ? await this.backend.write(
              written.flatMap((p) => p.plan.commands ?? []),
              {
                setKey: (n, t) => {
                  const p = part(t);
                  return p && setAfter(p.before, p.plan, n);
                },
                elementsBefore: (n, t) => part(t)?.before?.sets.get(n)?.elements,
              },
            )
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
        const script = scriptText();
        bytesWritten = Buffer.byteLength(script);
        await this.backend.transact(script);
      }
      restoreMs = performance.now() - t0;
    }
    for (const p of parts) {
      this.views.set(p.table, applyPlan(p.before, p.plan));
      this.applied.set(p.table, p.want);
    }
    return { ...sumStats(parts.map((p) => p.plan)), bytesWritten, restoreMs, via, ...(fallback ? { fallback } : {}) };
  }
}

/** The plan of a table that should not be there: deleted when it is. */
function tableGone(family: string, table: string, there: boolean): NftPlan {
  const script = there ? `delete table ${family} ${table}\n` : "";
  return { ...sumStats([]), linesWritten: there ? 1 : 0, script, after: null };
}

function sumStats(plans: readonly NftPlan[]): NftPlanStats {
  const out = {
    chainsWritten: 0,
    chainsDeleted: 0,
    hooksWritten: 0,
    setsWritten: 0,
    setsDeleted: 0,
    elementsAdded: 0,
    elementsRemoved: 0,
    linesWritten: 0,
  };
  for (const p of plans) for (const k of Object.keys(out) as (keyof NftPlanStats)[]) out[k] += p[k];
  return out;
}
