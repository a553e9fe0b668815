// The chain writes of one flush. They are kept aside, compared with what the
// flush started from (or was written earlier in it), and put into the draft
// at the end, shard by shard. Writing through immer instead would proxy and
// copy a shard for every chain merely compared, and make immer walk and
// freeze every new chain's rules; here a changed shard is copied once, and
// the new shard and chains are frozen here so immer leaves them alone.
// A chain rendered to the same rule hashes keeps its object: "changed" stays
// "different by reference" for every consumer (dataplane, table syncer,
// benchmarks).

import { castDraft, type Draft } from "immer";
import { type ChainRenderer, sameRules } from "../model/chain-render.js";
import { copyDict } from "../model/dict.js";
import type { Chain } from "../model/rule.js";
import {
  chainNames,
  chainOf,
  putChain,
  type RenderedChain,
  shardOf,
  type TableName,
  type TableState,
} from "../model/tables.js";
import { DEFAULT_CHAINS } from "./default-renderer.js";
import { type DesiredState, familyKey } from "./desired-state.js";
import type { IpVersion } from "./model.js";
import { latest } from "./plain.js";

type Shard = TableState["shards"][string];

export interface ChainStats {
  chainsRendered: number;
  chainsChanged: number;
}

/** Pending chains of one (family, table, shard): a chain, or undefined for a deletion. */
interface ShardWrites {
  readonly v: IpVersion;
  readonly table: TableName;
  readonly shard: string;
  readonly chains: Map<string, RenderedChain | undefined>;
}

export class ChainWrites {
  private readonly pending = new Map<string, ShardWrites>();

  /**
   * `base`: the snapshot the flush started from (a plain object, not a
   * draft). `direct`: a private plain copy of it being mutated (the first
   * flush): chains are put into it at once, nothing is kept aside.
   */
  constructor(
    private readonly base: DesiredState,
    private readonly direct?: DesiredState,
    /** How rules become text (the graph's backend). */
    readonly chains: ChainRenderer = DEFAULT_CHAINS,
  ) {}

  /** The chain as of now: written in this flush, else in the base snapshot. */
  current(v: IpVersion, table: TableName, name: string, shard = shardOf(name)): RenderedChain | undefined {
    if (this.direct) return chainOf(this.direct.iptables[familyKey(v)][table], name, shard);
    const p = this.pending.get(key(v, table, shard))?.chains;
    if (p?.has(name)) return p.get(name);
    return chainOf(this.base.iptables[familyKey(v)][table], name, shard);
  }

  /** Every chain name of a table as of now, unsorted. */
  names(v: IpVersion, table: TableName): string[] {
    if (this.direct) return chainNames(this.direct.iptables[familyKey(v)][table]);
    const names = new Set(chainNames(this.base.iptables[familyKey(v)][table]));
    for (const w of this.pending.values()) {
      if (w.v !== v || w.table !== table) continue;
      for (const [name, c] of w.chains) c ? names.add(name) : names.delete(name);
    }
    return [...names];
  }

  /** Sets (or with `chain` undefined, deletes) one chain. */
  write(v: IpVersion, table: TableName, name: string, chain: Chain | undefined, stats: ChainStats): void {
    const shard = shardOf(name);
    const old = this.current(v, table, name, shard);
    if (!chain) {
      if (old) {
        this.put(v, table, shard, name, undefined);
        stats.chainsChanged++;
      }
      return;
    }
    stats.chainsRendered++;
    this.putRendered(v, table, name, this.chains.renderChain(chain, { family: v, table }), stats);
  }

  /**
   * Writes every chain of `chains` or, when the backend cannot express one
   * (its renderer throws), none of them and rethrows: a service is in the
   * dataplane whole or not at all.
   */
  writeAll(v: IpVersion, table: TableName, chains: readonly Chain[], stats: ChainStats): void {
    const rendered = chains.map((c) => this.chains.renderChain(c, { family: v, table }));
    for (const r of rendered) {
      stats.chainsRendered++;
      this.putRendered(v, table, r.name, r, stats);
    }
  }

  private putRendered(v: IpVersion, table: TableName, name: string, rendered: RenderedChain, stats: ChainStats): void {
    const shard = shardOf(name);
    const old = this.current(v, table, name, shard);
    if (old && sameRules(old.rules, rendered.rules)) return;
    this.put(v, table, shard, name, Object.freeze(rendered));
    stats.chainsChanged++;
  }

  /** Puts the changed shards into the draft (or the plain copy of the first flush). */
  commit(d: Draft<DesiredState>): void {
    // Per table: its changed shards (undefined: the shard is empty now, so it goes).
    const tables = new Map<string, { v: IpVersion; table: TableName; shards: Map<string, Shard | undefined> }>();
    for (const w of this.pending.values()) {
      const baseShard = this.base.iptables[familyKey(w.v)][w.table].shards[w.shard];
      // A copy that stays a hash table: a spread made a hidden-class chain of its chain names, one map
      // and descriptor array per chain, allocated in the old generation on every change (model/dict.ts).
      const next = copyDict(baseShard);
      let changed = false;
      for (const [name, c] of w.chains) {
        const was = baseShard?.[name];
        // Changed and changed back within the flush: keep the base object.
        const now = c && was && sameRules(was.rules, c.rules) ? was : c;
        if (now === was) continue;
        changed = true;
        if (now) next[name] = now;
        else delete next[name];
      }
      if (!changed) continue;
      const tk = `${w.v}|${w.table}`;
      let t = tables.get(tk);
      if (!t) {
        t = { v: w.v, table: w.table, shards: new Map() };
        tables.set(tk, t);
      }
      t.shards.set(w.shard, Object.keys(next).length === 0 ? undefined : Object.freeze(next));
    }
    for (const { v, table, shards } of tables.values()) {
      const draft = d.iptables[familyKey(v)][table];
      // The shard index copied here, not by immer: the snapshot's is frozen, and V8 copies a frozen
      // object by spread or Object.assign (immer's copy) a key at a time into a growing store,
      // ~39 KB for the 1,024-shard index against ~14 KB by for…in.
      const before = latest(draft.shards) as TableState["shards"];
      const index: Record<string, Shard> = {};
      for (const k in before) index[k] = before[k];
      for (const [k, s] of shards) {
        if (s) index[k] = s;
        else delete index[k];
      }
      draft.shards = castDraft(Object.freeze(index));
    }
    this.pending.clear();
  }

  private put(v: IpVersion, table: TableName, shard: string, name: string, chain: RenderedChain | undefined): void {
    if (this.direct) {
      putChain(this.direct.iptables[familyKey(v)][table] as Parameters<typeof putChain>[0], name, chain, shard);
      return;
    }
    const k = key(v, table, shard);
    let w = this.pending.get(k);
    if (!w) {
      w = { v, table, shard, chains: new Map() };
      this.pending.set(k, w);
    }
    w.chains.set(name, chain);
  }
}

const key = (v: IpVersion, table: TableName, shard: string) => `${v}|${table}|${shard}`;
