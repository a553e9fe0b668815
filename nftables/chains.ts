// The desired tables of one family (DesiredState's raw/mangle/nat/filter) as
// the chains of our one nft table: chain X of table T is `T-X`; the hook rules
// of built-in chain B are the base chain `T-B`, hooked where iptables hooks
// that table (so our rules run where the iptables dataplane's ran).

import { natStagePriority, natStagesOf, parseNatStage } from "../model/nat-shards.js";
import {
  BUILTIN_CHAINS,
  chainList,
  type FamilyTables,
  type RenderedChain,
  type RenderedRule,
  TABLE_NAMES,
  type TableName,
  type TableState,
} from "../model/tables.js";

export interface BaseChainSpec {
  readonly type: "filter" | "nat" | "route";
  readonly hook: "prerouting" | "input" | "forward" | "output" | "postrouting";
  readonly priority: number;
}

export interface NftChain {
  readonly name: string;
  readonly base?: BaseChainSpec;
  readonly rules: readonly RenderedRule[];
}

/** The nft chain holding chain `chain` of iptables table `table`. */
export function nftChainName(table: TableName, chain: string): string {
  return `${table}-${chain}`;
}

const PRIORITY: Record<TableName, number> = { raw: -300, mangle: -150, nat: -100, filter: 0 };

/**
 * Where the base chain for built-in chain `builtin` of `table` hooks (or for a
 * nat stage of the sharded services, model/nat-shards.ts), or undefined for
 * an unknown built-in.
 */
export function baseChainSpec(table: TableName, builtin: string): BaseChainSpec | undefined {
  const stage = table === "nat" ? parseNatStage(builtin) : undefined;
  if (stage)
    return {
      type: "nat",
      hook: stage.builtin === "OUTPUT" ? "output" : "prerouting",
      priority: natStagePriority(stage),
    };
  if (!BUILTIN_CHAINS[table].includes(builtin)) return undefined;
  const hook = builtin.toLowerCase() as BaseChainSpec["hook"];
  if (table === "nat") {
    // Destination NAT before routing, source NAT after it (srcnat / dstnat).
    const src = hook === "postrouting" || hook === "input";
    return { type: "nat", hook, priority: src ? 100 : -100 };
  }
  // A mark set on output must re-route the packet: iptables-nft's mangle OUTPUT is a route chain too.
  const type = table === "mangle" && hook === "output" ? "route" : "filter";
  return { type, hook, priority: PRIORITY[table] };
}

/** The priority as `nft list` prints it: named where nft names it for that hook. */
export function priorityText(spec: BaseChainSpec): string {
  const p = spec.priority;
  if (p === 0 && spec.type !== "nat") return "filter";
  if (p === -300) return "raw";
  if (p === -150) return "mangle";
  // nft names a prerouting priority within 10 of dstnat by its offset (the shards' stages).
  if (spec.hook === "prerouting" && spec.type === "nat" && Math.abs(p + 100) <= 10) {
    return p === -100 ? "dstnat" : p > -100 ? `dstnat + ${p + 100}` : `dstnat - ${-100 - p}`;
  }
  if (p === 100 && spec.hook === "postrouting") return "srcnat";
  return String(p);
}

export function baseChainLine(spec: BaseChainSpec): string {
  return `type ${spec.type} hook ${spec.hook} priority ${priorityText(spec)}; policy accept;`;
}

/** Every chain of the family's table: per iptables table (raw, mangle, nat, filter) as tableChains orders them. */
export function* familyChains(tables: FamilyTables): Generator<NftChain> {
  for (const table of TABLE_NAMES) {
    yield* tableChains(tables, table);
  }
}

/** One table's chains: base chains in built-in order, then the others by name. */
export function* tableChains(tables: FamilyTables, table: TableName): Generator<NftChain> {
  const t = tables[table];
  for (const builtin of BUILTIN_CHAINS[table]) {
    // The nat stages of a built-in (sharded services) in the kernel's order, the built-in first.
    const keys = table === "nat" ? natStagesOf(t.hooks, builtin) : [builtin];
    if (!keys.includes(builtin) && t.hooks[builtin]) keys.unshift(builtin);
    for (const key of keys) {
      const hook = t.hooks[key];
      if (hook) yield hookChain(table, key, hook.insert, hook.append);
    }
  }
  for (const b of Object.keys(t.hooks).sort()) {
    if (!BUILTIN_CHAINS[table].includes(b) && !(table === "nat" && parseNatStage(b))) {
      throw new Error(`table ${table}: hook rules for unknown chain ${b}`);
    }
  }
  for (const c of sortedChains(t)) yield { name: nftChainName(table, c.name), rules: c.rules };
}

// A snapshot's shard index never changes once handed out (parts.ts keeps what it found of one the
// same way), so its chains sorted hold as long as it lives: a cold load renders a table's text and
// builds its view from the same chains (two sorts of ~7k names a nat table), felix-dump once.
const sorted = new WeakMap<object, readonly RenderedChain[]>();

/** The table's chains by name. */
function sortedChains(t: TableState): readonly RenderedChain[] {
  let list = sorted.get(t.shards);
  if (list === undefined) {
    list = chainList(t).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    sorted.set(t.shards, list);
  }
  return list;
}

export function hookChain(
  table: TableName,
  builtin: string,
  insert: readonly RenderedRule[],
  append: readonly RenderedRule[],
): NftChain {
  // Our table holds only our rules: the inserts and appends simply follow each other.
  return { name: nftChainName(table, builtin), base: baseChainSpec(table, builtin), rules: [...insert, ...append] };
}
