// The desired nat table of one family split over our nat tables (names.ts,
// model/nat-shards.ts): each chain goes to its shard's table (Chain.natShard;
// untagged: `calico-nat`), a chain tagged EVERY_NAT_SHARD into each table
// present, each nat hook to its stage's shard. A shard other than 0 is present
// while it has a chain or a hook of its own.
//
// Incremental, as the planner needs: only the chains that are not the same
// object as in the nat table last split are looked at, and each shard's
// table is copied on write (its shard records, then the touched ones), so an
// untouched shard keeps its TableState, and a touched one shares every
// chain record the change did not touch.

import { EVERY_NAT_SHARD, NAT_SHARDS, parseNatStage } from "../model/nat-shards.js";
import {
  chainOf,
  changedChains,
  type HookRules,
  putChain,
  type RenderedChain,
  shardOf,
  type TableState,
  tableState,
} from "../model/tables.js";

const EMPTY: TableState = Object.freeze(tableState());

/** The nat shard a chain is in (or every one); refuses a tag out of range. */
function natShardOfChain(c: RenderedChain): number | typeof EVERY_NAT_SHARD {
  const s = c.natShard ?? 0;
  if (s === EVERY_NAT_SHARD) return s;
  if (!Number.isInteger(s) || s < 0 || s >= NAT_SHARDS) throw new Error(`chain ${c.name}: nat shard ${s} out of range`);
  return s;
}

/** Copy-on-write edits of one TableState's chains. */
class TableEdit {
  private shards?: Record<string, Record<string, RenderedChain>>;
  private readonly copied = new Set<string>();

  constructor(private readonly base: TableState) {}

  put(name: string, chain: RenderedChain | undefined): void {
    const k = shardOf(name);
    this.shards ??= { ...this.base.shards };
    if (!this.copied.has(k)) {
      this.copied.add(k);
      if (this.shards[k]) this.shards[k] = { ...this.shards[k] };
    }
    putChain({ shards: this.shards }, name, chain, k);
  }

  done(hooks: TableState["hooks"]): TableState {
    if (!this.shards && hooks === this.base.hooks) return this.base;
    return { shards: this.shards ?? this.base.shards, hooks };
  }
}

export class NatSplit {
  private last?: TableState;
  private parts: TableState[] = new Array(NAT_SHARDS).fill(EMPTY);
  /** Chains of each shard's own (not copies). */
  private own: number[] = new Array(NAT_SHARDS).fill(0);
  private readonly every = new Map<string, RenderedChain>();

  /** The nat table of each shard (index = shard); EMPTY for a shard not present. */
  split(nat: TableState): readonly TableState[] {
    if (nat === this.last) return this.parts;
    const before = this.last;
    if (!before) {
      this.parts = new Array(NAT_SHARDS).fill(EMPTY);
      this.own = new Array(NAT_SHARDS).fill(0);
      this.every.clear();
    }
    const was = this.parts.map((t, k) => k === 0 || t !== EMPTY);
    const edits: (TableEdit | undefined)[] = [];
    const edit = (k: number) => {
      edits[k] ??= new TableEdit(this.parts[k]);
      return edits[k];
    };
    const place = (name: string, c: RenderedChain, put: RenderedChain | undefined) => {
      const s = natShardOfChain(c);
      if (s === EVERY_NAT_SHARD) {
        if (put) this.every.set(name, put);
        else this.every.delete(name);
        for (let k = 0; k < NAT_SHARDS; k++) if (was[k]) edit(k).put(name, put);
        return;
      }
      this.own[s] += put ? 1 : -1;
      edit(s).put(name, put);
    };
    if (before) {
      for (const name of changedChains(before, nat)) {
        const a = chainOf(before, name);
        const b = chainOf(nat, name);
        if (a) place(name, a, undefined);
        if (b) place(name, b, b);
      }
    } else {
      // From scratch: every chain, without looking each up again by name.
      for (const s of Object.values(nat.shards)) {
        for (const name in s) place(name, s[name], s[name]);
      }
    }
    const hooks = before?.hooks === nat.hooks ? this.parts.map((t) => t.hooks) : this.splitHooks(nat.hooks);
    for (let k = 0; k < NAT_SHARDS; k++) {
      const now = k === 0 || this.own[k] > 0 || Object.keys(hooks[k]).length > 0;
      if (!now) {
        this.parts[k] = EMPTY;
        continue;
      }
      if (!was[k]) for (const [name, c] of this.every) edit(k).put(name, c);
      this.parts[k] = (edits[k] ?? new TableEdit(this.parts[k])).done(hooks[k]);
    }
    this.last = nat;
    return this.parts;
  }

  /** Each shard's nat hooks, a shard's record kept when its hooks are the same objects. */
  private splitHooks(all: TableState["hooks"]): TableState["hooks"][] {
    const out: Record<string, HookRules>[] = Array.from({ length: NAT_SHARDS }, () => ({}));
    for (const [key, h] of Object.entries(all)) out[parseNatStage(key)?.shard ?? 0][key] = h;
    return out.map((h, k) => {
      const old = this.parts[k].hooks;
      const keys = Object.keys(h);
      return keys.length === Object.keys(old).length && keys.every((key) => old[key] === h[key]) ? old : h;
    });
  }
}
