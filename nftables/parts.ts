// The desired state of one family split into our tables (names.ts says why):
// the nat chains go to `calico-nat`, raw, mangle and filter to `calico`. A
// jump cannot leave its table, and neither can a lookup, so each set or map
// goes where rules name it (`@name`): into `calico-nat` when a nat rule does,
// into `calico` when a raw/mangle/filter rule does or no rule does (so an
// unused set is still somewhere felix-dump shows it). A set both use is in
// both, written in the same transaction. Which rules name which sets is
// counted change by change (O(change)), from the desired chains alone.

import {
  chainList,
  chainOf,
  changedChains,
  type FamilyTables,
  type HookRules,
  type RenderedRule,
  TABLE_NAMES,
  type TableName,
  type TableState,
  tableState,
} from "../model/tables.js";
import { NFT_NAT_TABLE, NFT_TABLE, NFT_TABLES, nftSetName } from "./names.js";
import type { NftDesired } from "./plan.js";

/** One of our tables and what it should hold. */
export interface NftPart {
  readonly table: string;
  readonly desired: NftDesired;
}

/** The nft table holding the chains of iptables table `t`. */
export function nftTableOf(t: TableName): string {
  return t === "nat" ? NFT_NAT_TABLE : NFT_TABLE;
}

const EMPTY: TableState = Object.freeze(tableState());

/**
 * The names a rule looks up (`@set`, `vmap @map`, `update @set`): our rule
 * texts end a name at a space or brace; an `@` inside a quoted string (a log
 * prefix, a comment) names nothing.
 */
function* refsOf(rules: readonly RenderedRule[]): Generator<string> {
  for (const r of rules) {
    const t = r.text;
    if (!t.includes("@")) continue;
    let quoted = false;
    for (let at = 0; at < t.length; at++) {
      if (t[at] === '"') quoted = !quoted;
      if (quoted || t[at] !== "@") continue;
      let end = at + 1;
      while (end < t.length && !' \t{}"'.includes(t[end])) end++;
      yield t.slice(at + 1, end);
      at = end - 1;
    }
  }
}

const hookRules = (h: HookRules | undefined) => (h ? [...h.insert, ...h.append] : []);

/** Per table of ours, how many rules name each set or map. */
export class SetRefs {
  private readonly counts = new Map<string, Map<string, number>>(NFT_TABLES.map((t) => [t, new Map()]));
  private tables?: FamilyTables;
  /** Bumped when a name starts or stops being used by a table: the split sets must be rebuilt. */
  version = 0;

  /** Per table, the names whose count this update touched, with whether they were used before it. */
  private touched = new Map<string, Map<string, boolean>>();

  private add(table: string, rules: readonly RenderedRule[], by: 1 | -1): void {
    const m = this.counts.get(table) as Map<string, number>;
    let seen = this.touched.get(table);
    if (!seen) {
      seen = new Map();
      this.touched.set(table, seen);
    }
    for (const name of refsOf(rules)) {
      if (!seen.has(name)) seen.set(name, m.has(name));
      const n = (m.get(name) ?? 0) + by;
      if (n === 0) m.delete(name);
      else m.set(name, n);
    }
  }

  /** Brings the counts to `tables` (from the tables last given, when there were some). */
  update(tables: FamilyTables): void {
    const before = this.tables;
    if (before === tables) return;
    if (!before) {
      for (const m of this.counts.values()) m.clear();
      this.version++;
    }
    for (const t of TABLE_NAMES) {
      const [a, b] = [before?.[t] ?? EMPTY, tables[t]];
      if (a === b) continue;
      const table = nftTableOf(t);
      for (const name of before ? changedChains(a, b) : chainList(b).map((c) => c.name)) {
        this.add(table, chainOf(a, name)?.rules ?? [], -1);
        this.add(table, chainOf(b, name)?.rules ?? [], 1);
      }
      if (a.hooks === b.hooks) continue;
      for (const h of new Set([...Object.keys(a.hooks), ...Object.keys(b.hooks)])) {
        if (a.hooks[h] === b.hooks[h]) continue;
        this.add(table, hookRules(a.hooks[h]), -1);
        this.add(table, hookRules(b.hooks[h]), 1);
      }
    }
    // Only a name that starts or stops being used somewhere moves a set between tables.
    for (const [table, seen] of this.touched) {
      const m = this.counts.get(table) as Map<string, number>;
      for (const [name, was] of seen) if (m.has(name) !== was) this.version++;
    }
    this.touched.clear();
    this.tables = tables;
  }

  /** Whether set or map `name` belongs in our table `table`. */
  holds(table: string, name: string): boolean {
    const nat = this.counts.get(NFT_NAT_TABLE)?.has(name) ?? false;
    return table === NFT_NAT_TABLE ? nat : (this.counts.get(table)?.has(name) ?? false) || !nat;
  }
}

/**
 * Splits a family's desired state into our tables, keeping the identity of
 * what did not change (the planner compares by identity): each iptables
 * table's state goes whole into its part, and a part's sets and objects are
 * rebuilt only when the input or the placement changed.
 */
export class DesiredSplit {
  private refs = new SetRefs();
  private last?: { want: NftDesired; version: number; parts: NftPart[] };

  split(want: NftDesired): NftPart[] {
    this.refs.update(want.tables);
    const last = this.last;
    const v = this.refs.version;
    const parts = NFT_TABLES.map((table, i): NftPart => {
      const prev = last?.parts[i].desired;
      const tables = { ...want.tables };
      for (const t of TABLE_NAMES) if (nftTableOf(t) !== table) tables[t] = EMPTY;
      const same = last?.version === v;
      const sets =
        same && last?.want.sets === want.sets && prev ? prev.sets : this.pick(table, want.sets, (k) => nftSetName(k));
      const objects =
        same && last?.want.objects === want.objects && prev
          ? prev.objects
          : want.objects && this.pick(table, want.objects, (_k, o) => o.name);
      const reuse = prev && TABLE_NAMES.every((t) => prev.tables[t] === tables[t]);
      return { table, desired: { tables: reuse ? prev.tables : tables, sets, ...(objects ? { objects } : {}) } };
    });
    this.last = { want, version: v, parts };
    return parts;
  }

  private pick<T>(table: string, all: Readonly<Record<string, T>>, name: (k: string, v: T) => string) {
    const out: Record<string, T> = {};
    for (const [k, v] of Object.entries(all)) if (this.refs.holds(table, name(k, v))) out[k] = v;
    return out;
  }

  /** Forget what was split: the next split counts every rule again. */
  reset(): void {
    this.last = undefined;
    this.refs = new SetRefs();
  }
}

/** The parts of a desired state without history (felix-dump, the cold render, tests). */
export function splitDesired(want: NftDesired): NftPart[] {
  return new DesiredSplit().split(want);
}
