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
import { COLD_LOADS, ColdSlots, loadWhole, renderWhole, type WholeTable } from "./cold-load.js";
import { NFT_NAT_TABLES, NFT_TABLE } from "./names.js";
import { DesiredSplit, emptyPart } from "./parts.js";
import { applyPlan, type NftDesired, type NftPlan, type NftPlanStats, planNft, setAfter } from "./plan.js";
import { allSettledOrThrow } from "./settled.js";
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
  /** Bounds the whole-table loads running at once; share one between the families (default: COLD_LOADS of its own). */
  readonly coldSlots?: ColdSlots;
}

type TransactParts = NonNullable<NftBackend["transactParts"]>;
type Table = { readonly table: string; readonly want: NftDesired; readonly before: NftView | null };

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class NftTableSyncer {
  /** Per table of ours, the kernel's as last read or written; null: no table; absent: read it first. */
  private readonly views = new Map<string, NftView | null>();
  /** Per table, the desired part the view was last brought to. */
  private readonly applied = new Map<string, NftDesired>();
  private readonly split = new DesiredSplit();
  /**
   * Tables a whole load put in (a cold load of the apply in progress, or stage 1) and not
   * written since: while every other table of ours is absent, the start goes on table by
   * table, and a retry neither reads nor replaces them.
   */
  private readonly whole = new Set<string>();
  private readonly slots: ColdSlots;
  /** The last read found no table of ours but what a whole load put in. */
  private atStart = false;
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
    this.slots = o.coldSlots ?? new ColdSlots(COLD_LOADS);
  }

  /** Forget the cached kernel views: the next apply reads our tables and repairs any drift. */
  invalidate(): void {
    this.views.clear();
    this.applied.clear();
    this.whole.clear();
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
        const r = await this.applyOnce(objects ? { tables, sets, objects } : { tables, sets }, recreate);
        this.whole.clear();
        return r;
      } catch (e) {
        // What was loaded whole is still trusted (nft committed it); the rest is read again.
        const kept = [...this.whole].map((t) => [t, this.views.get(t), this.applied.get(t)] as const);
        this.invalidate();
        for (const [t, view, applied] of kept) {
          if (view === undefined || applied === undefined) continue;
          this.views.set(t, view);
          this.applied.set(t, applied);
          this.whole.add(t);
        }
        if (!(e instanceof NftError)) throw e;
        this.failures++;
        if (attempt >= this.retries) {
          this.invalidate();
          throw e;
        }
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
    const v = this.backend.family === "ip" ? 4 : 6;
    // One plan per table of ours. The last retry replaces them all, but for those a whole load
    // put in (a table refused has its own retries; the others stay).
    const tables: Table[] = [];
    for (const { table, desired: want } of this.split.split(desired)) {
      tables.push({ table, want, before: recreate && !this.whole.has(table) ? null : await this.read(table) });
    }
    // At the start (no table of ours there but what a whole load just put in), a table not there
    // is loaded whole, each in its own transaction, nft reading the text as it renders
    // (cold-load.ts; its last retry replaces each so), and the rest is one transaction.
    // Otherwise everything is one transaction, a new table or the last retry's replacement
    // included: packets see the old layout or the new one. (The last retry reads nothing: it
    // goes the way the attempt before it found.)
    if (!recreate) this.atStart = tables.every((t) => t.before === null || this.whole.has(t.table));
    if (!this.backend.transactParts || !this.atStart) return this.writeDiff(tables, recreate);
    const cold = tables.filter((t) => t.before === null && (recreate || !emptyPart(t.want, v)));
    const absent = tables.filter((t) => t.before === null && !cold.includes(t));
    for (const t of absent) {
      this.views.set(t.table, null);
      this.applied.set(t.table, t.want);
    }
    const loaded = cold.length > 0 ? await this.loadCold(cold, recreate) : undefined;
    const rest = await this.writeDiff(
      tables.filter((t) => t.before !== null),
      false,
    );
    if (!loaded) return rest;
    const stats = sumStats([rest, loaded]);
    const via = loaded.bytesWritten > 0 ? "nft" : rest.via;
    return {
      ...rest,
      ...stats,
      bytesWritten: rest.bytesWritten + loaded.bytesWritten,
      restoreMs: rest.restoreMs + loaded.restoreMs,
      via,
    };
  }

  /**
   * Each table of `cold` loaded whole in its own transaction, at most ColdSlots' number at once
   * (both families share them), the nat tables first and `calico` last: at a cold start nothing
   * reports ready, nor has a route, before every table is in. A table refused throws once the
   * others have ended; those stay (`whole`: the retries do not load or replace them again).
   */
  private async loadCold(
    cold: readonly Table[],
    recreate: boolean,
  ): Promise<{ bytesWritten: number; restoreMs: number } & NftPlanStats> {
    const family = this.backend.family;
    const transactParts = (this.backend.transactParts as TransactParts).bind(this.backend);
    const ordered = [...cold].sort((a, b) => Number(a.table === NFT_TABLE) - Number(b.table === NFT_TABLE));
    const t0 = performance.now();
    const loads = await allSettledOrThrow(
      ordered.map((t) =>
        this.slots.run(async () => {
          const r = await loadWhole(family, [t], recreate, transactParts);
          this.views.set(t.table, r.plans[0].after ?? null);
          this.applied.set(t.table, t.want);
          this.whole.add(t.table);
          return r;
        }),
      ),
    );
    const bytesWritten = loads.reduce((n, r) => n + r.bytesWritten, 0);
    // Wall time: the loads overlap.
    return {
      ...sumStats(loads.flatMap((r) => r.plans)),
      bytesWritten,
      restoreMs: bytesWritten > 0 ? performance.now() - t0 : 0,
    };
  }

  /**
   * Stage 1 of a cold start (src/nat-first.ts): the nat tables of `desired` that are not there,
   * loaded whole in COLD_LOADS transactions at most (tables dealt in turn), all started at once
   * with their text spooled to a file (nft then needs nothing of ours: the main thread ingests
   * the rest of the first batch meanwhile, for seconds without a turn of the event loop, so a
   * piped text or a load waiting for a slot would wait for it). `onStarted`: every nft has its
   * text. Their views become the syncer's, so the next apply reads none of them and writes only
   * what differs. A nat table that is there is left to the next apply (read now: not read
   * again); nothing is deleted; `calico` is not touched. Throws on a refusal: the caller
   * invalidates, and the next apply writes everything after a fresh read.
   */
  async loadNatFirst(desired: NftDesired, onStarted: () => void): Promise<NftSyncResult> {
    const family = this.backend.family;
    const v = family === "ip" ? 4 : 6;
    const groups: WholeTable[][] = [];
    const loads: Promise<{ bytes: number; plans: NftPlanStats[] }>[] = [];
    const started: Promise<void>[] = [];
    try {
      const absent: WholeTable[] = [];
      for (const { table, desired: want } of this.split.split(desired)) {
        if (table === NFT_TABLE || emptyPart(want, v) || (await this.read(table)) !== null) continue;
        absent.push({ table, want });
      }
      absent.forEach((t, i) => {
        const g = i % Math.min(this.slots.n, absent.length);
        groups[g] = [...(groups[g] ?? []), t];
      });
      // Rendered before any starts: a name or rule the renderer refuses leaves nothing running.
      const texts = groups.map((group) => ({ group, ...renderWhole(family, group) }));
      const running = texts.map(({ group, script, bytes, views }) => {
        let start = () => {};
        started.push(new Promise<void>((r) => (start = r)));
        const load = this.backend.transactSpooled
          ? this.backend.transactSpooled(script, start)
          : this.backend.transact(script).finally(start);
        load.then(start, start);
        return { group, bytes, views, load };
      });
      // The views (at `large` ~55k chains' rule hashes) built once every nft runs with its text.
      await Promise.all(started);
      for (const { group, bytes, views, load } of running) {
        const plans = views();
        loads.push(
          load.then(() => {
            group.forEach((t, i) => {
              this.views.set(t.table, plans[i].after ?? null);
              this.applied.set(t.table, t.want);
              this.whole.add(t.table);
            });
            return { bytes, plans };
          }),
        );
      }
    } finally {
      void Promise.all(started).then(onStarted);
    }
    const t0 = performance.now();
    const done = await allSettledOrThrow(loads);
    const bytesWritten = done.reduce((n, l) => n + l.bytes, 0);
    const via = bytesWritten > 0 ? "nft" : "none";
    const stats = sumStats(done.flatMap((l) => l.plans));
    return { ...stats, bytesWritten, restoreMs: via === "nft" ? performance.now() - t0 : 0, via };
  }

  /** `tables` brought to what they should hold in one transaction (a table not there planned from nothing). */
  private async writeDiff(tables: readonly Table[], recreate: boolean): Promise<NftSyncResult> {
    const family = this.backend.family;
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

function sumStats(plans: readonly NftPlanStats[]): NftPlanStats {
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
