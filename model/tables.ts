// The desired content of the kernel's tables, as the graph hands it over:
// chains we own plus the rules we hook into the kernel's built-in chains.

import { changedKeys, dict } from "./dict.js";
import { fnv1a } from "./fnv.js";
import type { NatShard } from "./nat-shards.js";

export type TableName = "raw" | "mangle" | "nat" | "filter";
/** The order iptables-save prints tables in. */
export const TABLE_NAMES: readonly TableName[] = ["raw", "mangle", "nat", "filter"];

export const BUILTIN_CHAINS: Readonly<Record<TableName, readonly string[]>> = {
  raw: ["PREROUTING", "OUTPUT"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
};

export interface RenderedRule {
  /** Rule text as iptables-save prints it, without `-A <chain>`. */
  readonly text: string;
  readonly hash: string;
}

export interface RenderedChain {
  readonly name: string;
  readonly rules: readonly RenderedRule[];
  /** Chain.natShard: the nat table of the nftables dataplane it goes to; absent: the first. */
  readonly natShard?: NatShard;
}

/** Our rules in one built-in chain: `insert` go first, `append` go last. */
export interface HookRules {
  readonly insert: readonly RenderedRule[];
  readonly append: readonly RenderedRule[];
}

type Shard = Readonly<Record<string, RenderedChain>>;

export interface TableState {
  /**
   * Chains by name, in shards keyed by a hash of the name: a snapshot that
   * changes one chain copies one small shard instead of a record of every
   * chain (kube-proxy-style service chains reach tens of thousands at scale,
   * and copying such a record costs tens of milliseconds). Read with
   * chainOf / chainNames / chainList, write with putChain. Empty shards are
   * removed, so equal tables have equal structure.
   */
  readonly shards: Readonly<Record<string, Shard>>;
  readonly hooks: Readonly<Record<string, HookRules>>;
}

export type FamilyTables = Readonly<Record<TableName, TableState>>;

// ~50 chains per shard with 55k chains: a batch touching hundreds of chains
// copies hundreds of small shards (and the 1,024-entry index), not the table.
const SHARDS = 1024;

// Keys are array indexes ("0" … "1023"): V8 keeps them as the record's elements, which a copy
// (every snapshot that changes a chain copies the record) clones several times faster than as many
// named properties (three hex digits were: the record was a hash table, ~1 ms a copy under load).
const SHARD_KEYS = Array.from({ length: SHARDS }, (_, i) => String(i));

/** The shard of a chain name: FNV-1a of the name, as a decimal index. */
export function shardOf(name: string): string {
  return SHARD_KEYS[fnv1a(name) % SHARDS];
}

/** `shard` may be given when the caller computed shardOf(name) already. */
export function chainOf(t: TableState, name: string, shard = shardOf(name)): RenderedChain | undefined {
  return t.shards[shard]?.[name];
}

/** Every chain name, unsorted. */
export function chainNames(t: TableState): string[] {
  return Object.values(t.shards).flatMap((s) => Object.keys(s));
}

/** Every chain, unsorted. */
export function chainList(t: TableState): RenderedChain[] {
  return Object.values(t.shards).flatMap((s) => Object.values(s));
}

/** Sets (or with `chain` undefined, deletes) one chain of a mutable table or an immer draft of one. */
export function putChain(
  t: { shards: Record<string, Record<string, RenderedChain>> },
  name: string,
  chain: RenderedChain | undefined,
  k = shardOf(name),
): void {
  if (chain) {
    // A shard is a record keyed by chain names: a hash table (dict.ts), so
    // neither it nor its copies make hidden classes named after chains.
    let shard = t.shards[k];
    if (!shard) {
      shard = dict();
      t.shards[k] = shard;
    }
    shard[name] = chain;
    return;
  }
  const shard = t.shards[k];
  if (!shard || !(name in shard)) return;
  delete shard[name];
  if (Object.keys(shard).length === 0) delete t.shards[k];
}

export function tableState(chains: Iterable<RenderedChain> = [], hooks: Record<string, HookRules> = {}): TableState {
  const t = { shards: {} as Record<string, Record<string, RenderedChain>>, hooks };
  for (const c of chains) putChain(t, c.name, c);
  return t;
}

const knownChanges = new WeakMap<object, { readonly to: object; readonly names: readonly string[] }>();

/**
 * Names of the chains that differ between two versions of a table (added,
 * removed or another object), looking only into shards that are not the
 * same object: O(changes), not O(chains).
 */
export function changedChains(before: TableState, after: TableState): string[] {
  if (before.shards === after.shards) return [];
  // The split and the planner of the same family ask for the same pair.
  const k = knownChanges.get(before.shards);
  if (k?.to === after.shards) return [...k.names];
  const out: string[] = [];
  // By index, not for-in: enumerating 1,024 element keys makes 1,024 strings per call.
  const [a, b] = [before.shards as Readonly<Record<number, Shard>>, after.shards as Readonly<Record<number, Shard>>];
  for (let i = 0; i < SHARDS; i++) {
    if (a[i] !== b[i]) out.push(...changedKeys(a[i] ?? {}, b[i] ?? {}));
  }
  knownChanges.set(before.shards, { to: after.shards, names: out.slice() });
  return out;
}
