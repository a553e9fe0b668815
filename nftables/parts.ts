// The desired state of one family split into our tables (names.ts says why):
// raw, mangle and filter go to `calico`, the nat chains to the nat tables by
// their shard (nat-split.ts). A jump cannot leave its table, and neither can a
// lookup, so a set or map must be where rules name it (`@name`). Every IP set
// is in `calico`, as in Felix's one table (the part's record is the desired
// record itself, so a change copies no record of ~1,500 sets; at `large` one
// set, the service pod CIDRs, is used by nat rules alone), and also in each
// nat table whose rules name it. A map (or affinity set) goes into each nat
// table whose rules name it, into `calico` when a raw/mangle/filter rule does
// or none does: its elements name chains of the table it is in. What is in
// several tables is written to each in the same transaction. Which rules name
// which sets is counted change by change (O(change)), per table, from its
// part of the desired chains.

import { changedKeys, copyDict, dictFrom, noteChangedKeys } from "../model/dict.js";
import type { IpSetState } from "../model/ipset.js";
import { changedIpSets, type IpSets, ipSetList, ipSetOf, ipSetsOf, withIpSets } from "../model/ipset-shards.js";
import type { NftObjectState } from "../model/nft-objects.js";
import {
  chainList,
  chainOf,
  changedChains,
  type FamilyTables,
  type HookRules,
  type RenderedRule,
  TABLE_NAMES,
  type TableState,
  tableState,
} from "../model/tables.js";
import { NFT_NAT_TABLES, NFT_TABLE, NFT_TABLES, nftSetName } from "./names.js";
import { NatSplit } from "./nat-split.js";
import type { NftDesired } from "./plan.js";

/** One of our tables and what it should hold. */
export interface NftPart {
  readonly table: string;
  readonly desired: NftDesired;
}

const EMPTY: TableState = Object.freeze(tableState());

/** Whether a part holds nothing of family `v` (its sets and objects are both families'): its table need not exist. */
export function emptyPart(d: NftDesired, v: 4 | 6): boolean {
  const none = (t: TableState) => isEmpty(t.shards) && isEmpty(t.hooks);
  return (
    TABLE_NAMES.every((t) => none(d.tables[t])) &&
    !d.sets.some((shard) => hasFamily(shard, v)) &&
    !hasFamily(d.objects, v)
  );
}

// Snapshot records never change, so what was found of one holds as long as it lives: each nat
// table asks on every apply, and even `for…in` lists all keys first (a shard index has a
// thousand, the sets ~1,500 in 64 shards).
const emptiness = new WeakMap<object, boolean>();
const families = new WeakMap<object, { 4?: boolean; 6?: boolean }>();

function isEmpty(r: object): boolean {
  let e = emptiness.get(r);
  if (e === undefined) {
    e = true;
    for (const _ in r) {
      e = false;
      break;
    }
    emptiness.set(r, e);
  }
  return e;
}

function hasFamily(r: Readonly<Record<string, { readonly family: number }>> | undefined, v: 4 | 6): boolean {
  if (!r) return false;
  let f = families.get(r);
  if (!f) {
    f = {};
    families.set(r, f);
  }
  if (f[v] === undefined) {
    f[v] = false;
    for (const k in r) {
      if (Object.hasOwn(r, k) && r[k].family === v) {
        f[v] = true;
        break;
      }
    }
  }
  return f[v];
}

/**
 * The names a rule text looks up (`@set`, `vmap @map`, `update @set`), each given to `found`: our
 * rule texts end a name at a space or brace; an `@` inside a quoted string (a log prefix, a
 * comment) names nothing.
 */
function refsIn(t: string, found: (name: string) => void): void {
  let quoted = false;
  for (let at = 0; at < t.length; at++) {
    if (t[at] === '"') quoted = !quoted;
    if (quoted || t[at] !== "@") continue;
    let end = at + 1;
    while (end < t.length && !' \t{}"'.includes(t[end])) end++;
    found(t.slice(at + 1, end));
    at = end - 1;
  }
}

const hookRules = (h: HookRules | undefined) => (h ? [...h.insert, ...h.append] : []);

/** Per table of ours, how many rules name each set or map. */
export class SetRefs {
  private readonly counts = new Map<string, Map<string, number>>(NFT_TABLES.map((t) => [t, new Map()]));
  /** Per table of ours, its part of the desired tables as last counted. */
  private readonly tables = new Map<string, FamilyTables>();
  /** Bumped when a table is counted from scratch: every split set must be placed again. */
  version = 0;
  /** Names that started or stopped being used by some table since takeMoved(): only their sets move. */
  private moved = new Set<string>();

  /** The names whose count this update touched, with whether they were used before it. */
  private touched = new Map<string, boolean>();

  private add(m: Map<string, number>, rules: readonly RenderedRule[], by: 1 | -1): void {
    // Most rules name no set (at `large` 7k of 180k hold an `@`): looked into only when one may.
    for (let i = 0; i < rules.length; i++) {
      const t = rules[i].text;
      if (!t.includes("@")) continue;
      refsIn(t, (name) => {
        if (!this.touched.has(name)) this.touched.set(name, m.has(name));
        const n = (m.get(name) ?? 0) + by;
        if (n === 0) m.delete(name);
        else m.set(name, n);
      });
    }
  }

  /** Brings the counts of our table `table` to its part `tables` (from the part last given, when there was one). */
  update(table: string, tables: FamilyTables): void {
    const before = this.tables.get(table);
    if (before === tables) return;
    const m = this.counts.get(table) as Map<string, number>;
    if (!before) {
      m.clear();
      this.version++;
    }
    for (const t of TABLE_NAMES) {
      const [a, b] = [before?.[t] ?? EMPTY, tables[t]];
      if (a === b) continue;
      if (before) {
        for (const name of changedChains(a, b)) {
          this.add(m, chainOf(a, name)?.rules ?? [], -1);
          this.add(m, chainOf(b, name)?.rules ?? [], 1);
        }
      } else {
        // Counted from scratch: every chain of the part, without looking each up again by name.
        for (const c of chainList(b)) this.add(m, c.rules, 1);
      }
      if (a.hooks === b.hooks) continue;
      for (const h of new Set([...Object.keys(a.hooks), ...Object.keys(b.hooks)])) {
        if (a.hooks[h] === b.hooks[h]) continue;
        this.add(m, hookRules(a.hooks[h]), -1);
        this.add(m, hookRules(b.hooks[h]), 1);
      }
    }
    // Only a name that starts or stops being used somewhere moves a set between tables.
    for (const [name, was] of this.touched) if (m.has(name) !== was) this.moved.add(name);
    this.touched.clear();
    this.tables.set(table, tables);
  }

  /** The names whose placement may have changed since the last call. */
  takeMoved(): ReadonlySet<string> {
    const moved = this.moved;
    this.moved = new Set();
    return moved;
  }

  /** Whether set or map `name` belongs in our table `table`. */
  holds(table: string, name: string): boolean {
    if (table !== NFT_TABLE) return this.counts.get(table)?.has(name) ?? false;
    return (
      (this.counts.get(NFT_TABLE)?.has(name) ?? false) || !NFT_NAT_TABLES.some((t) => this.counts.get(t)?.has(name))
    );
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
  private nat = new NatSplit();
  /** nft name → key of the desired sets (objects) last split: a moved name finds its record. */
  private readonly setKeyOf = new Map<string, string>();
  private readonly objectKeyOf = new Map<string, string>();
  private last?: { want: NftDesired; version: number; parts: NftPart[] };

  split(want: NftDesired): NftPart[] {
    const last = this.last;
    const nat = this.nat.split(want.tables.nat);
    const tablesOf = NFT_TABLES.map((table, i): FamilyTables => {
      const prev = last?.parts[i].desired.tables;
      const tables: FamilyTables =
        table === NFT_TABLE
          ? { ...want.tables, nat: EMPTY }
          : { raw: EMPTY, mangle: EMPTY, nat: nat[NFT_NAT_TABLES.indexOf(table)], filter: EMPTY };
      const reuse = prev && TABLE_NAMES.every((t) => prev[t] === tables[t]);
      return reuse ? prev : tables;
    });
    for (const [i, table] of NFT_TABLES.entries()) this.refs.update(table, tablesOf[i]);
    const v = this.refs.version;
    const moved = this.refs.takeMoved();
    // Unless a table was counted from scratch, only the sets (objects) that are not the same object, or
    // whose name started or stopped being used somewhere, are placed again.
    const same = last?.version === v;
    const setKeys =
      same && last ? this.withMoved(changedIpSets(last.want.sets, want.sets), moved, this.setKeyOf) : undefined;
    const objectKeys =
      same && last?.want.objects && want.objects
        ? this.withMoved(changedKeys(last.want.objects, want.objects), moved, this.objectKeyOf)
        : undefined;
    this.index(SETS, this.setKeyOf, last?.want.sets, want.sets, setKeys);
    this.index(OBJECTS, this.objectKeyOf, last?.want.objects, want.objects, objectKeys);
    const parts = NFT_TABLES.map((table, i): NftPart => {
      const prev = last?.parts[i].desired;
      // `calico` holds every set (the record itself: nothing copied for a change); a nat table its own.
      const sets =
        table === NFT_TABLE
          ? want.sets
          : prev && setKeys
            ? this.repick(SETS, table, prev.sets, want.sets, setKeys)
            : this.pick(SETS, table, want.sets);
      const objects =
        want.objects &&
        (prev?.objects && objectKeys
          ? this.repick(OBJECTS, table, prev.objects, want.objects, objectKeys)
          : this.pick(OBJECTS, table, want.objects));
      return { table, desired: { tables: tablesOf[i], sets, ...(objects ? { objects } : {}) } };
    });
    this.last = { want, version: v, parts };
    return parts;
  }

  /** `keys` plus the keys of the moved names (by the name → key index of the last split). */
  private withMoved(keys: string[], moved: ReadonlySet<string>, keyOf: Map<string, string>): string[] {
    for (const name of moved) {
      const k = keyOf.get(name);
      if (k !== undefined) keys.push(k);
    }
    return keys;
  }

  /** Keeps `keyOf` (nft name → record key) true for `all`: from scratch, or by the changed `keys`. */
  private index<R, T>(
    r: Keyed<R, T>,
    keyOf: Map<string, string>,
    prev: R | undefined,
    all: R | undefined,
    keys: readonly string[] | undefined,
  ): void {
    if (!all) {
      keyOf.clear();
      return;
    }
    if (!keys || !prev) {
      keyOf.clear();
      for (const [k, v] of r.entries(all)) keyOf.set(r.name(k, v), k);
      return;
    }
    for (const k of keys) {
      const [was, now] = [r.get(prev, k), r.get(all, k)];
      if (was !== undefined) keyOf.delete(r.name(k, was));
      if (now !== undefined) keyOf.set(r.name(k, now), k);
    }
  }

  private pick<R, T>(r: Keyed<R, T>, table: string, all: R): R {
    const held: [string, T][] = [];
    for (const [k, v] of r.entries(all)) if (this.refs.holds(table, r.name(k, v))) held.push([k, v]);
    return r.from(held);
  }

  /** `prev` (this table's part) with the `keys` that changed in `all`; `prev` itself when none is this table's. */
  private repick<R, T>(r: Keyed<R, T>, table: string, prev: R, all: R, keys: readonly string[]): R {
    const writes: [string, T | undefined][] = [];
    for (const k of keys) {
      const v = r.get(all, k);
      const held = v !== undefined && this.refs.holds(table, r.name(k, v));
      if (held ? r.get(prev, k) === v : r.get(prev, k) === undefined) continue;
      writes.push([k, held ? v : undefined]);
    }
    return writes.length === 0 ? prev : r.with(prev, writes);
  }

  /** Forget what was split: the next split counts every rule again. */
  reset(): void {
    this.last = undefined;
    this.setKeyOf.clear();
    this.objectKeyOf.clear();
    this.refs = new SetRefs();
    this.nat = new NatSplit();
  }
}

/** The parts of a desired state without history (felix-dump, the cold render, tests). */
export function splitDesired(want: NftDesired): NftPart[] {
  return new DesiredSplit().split(want);
}

/** How a split reads and writes the desired sets (sharded: model/ipset-shards.ts) and nft objects (a record). */
interface Keyed<R, T> {
  entries(r: R): Iterable<readonly [string, T]>;
  get(r: R, k: string): T | undefined;
  /** The nft name of the entry at `k`. */
  name(k: string, v: T): string;
  from(entries: readonly (readonly [string, T])[]): R;
  /** `prev` with `writes` (undefined: delete). */
  with(prev: R, writes: readonly (readonly [string, T | undefined])[]): R;
}

const SETS: Keyed<IpSets, IpSetState> = {
  entries: (r) => ipSetList(r).map((s) => [s.name, s] as const),
  get: ipSetOf,
  name: (k) => nftSetName(k),
  from: (entries) => ipSetsOf(entries.map(([, s]) => s)),
  with: withIpSets,
};

type Objects = Readonly<Record<string, NftObjectState>>;
const OBJECTS: Keyed<Objects, NftObjectState> = {
  entries: (r) => Object.entries(r),
  get: (r, k) => (Object.hasOwn(r, k) ? r[k] : undefined),
  name: (_k, o) => o.name,
  from: (entries) => dictFrom(entries),
  with: (prev, writes) => {
    const out = copyDict(prev);
    for (const [k, v] of writes) {
      if (v) out[k] = v;
      else delete out[k];
    }
    noteChangedKeys(
      prev,
      out,
      writes.map(([k]) => k),
    );
    return out;
  },
};
