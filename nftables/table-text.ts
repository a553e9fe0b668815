// The desired tables of one family as `nft -f` text: what `felix-dump
// nftables` prints, what a cold start loads in one transaction, and per table
// what `nft -s list table <family> <table>` prints once it is loaded (nft lists
// sets before chains, each in creation order, which is this order; only a hash
// set's elements come back in the kernel's hash order).

import type { IpSetState } from "../model/ipset.js";
import { type IpSets, ipSetList } from "../model/ipset-shards.js";
import type { NftObjectState } from "../model/nft-objects.js";
import type { FamilyTables } from "../model/tables.js";
import type { NftFamily } from "./backend.js";
import { baseChainLine, familyChains, type NftChain } from "./chains.js";
import { familyObjects, nftObjectElements, nftObjectSpec, objectBlock } from "./objects.js";
import { emptyPart, splitDesired } from "./parts.js";
import type { NftDesired } from "./plan.js";
import { assertSafeNftName, assertSafeNftRule } from "./safe-text.js";
import { type NftSetSpec, nftElements, nftSetSpec, sortElements } from "./sets.js";

/** The family's desired sets, by nft name, sorted. */
export function familySets(
  sets: IpSets,
  family: NftFamily,
): { spec: NftSetSpec; elements: ReadonlySet<string>; state: IpSetState }[] {
  const v = family === "ip" ? 4 : 6;
  return ipSetList(sets)
    .filter((s) => s.family === v)
    .map((s) => ({ spec: nftSetSpec(s), elements: nftElements(s), state: s }))
    .sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0));
}

/** The `elements = { … }` line(s) of a set as nft prints them (two 4-byte keys a line, else one). */
export function elementsBlock(spec: NftSetSpec, elements: Iterable<string>, indent = "\t\t"): string {
  const list = sortElements(elements, spec.interval);
  if (list.length === 0) return "";
  const perLine = spec.type === "ipv4_addr" ? 2 : 1;
  const lines: string[] = [];
  for (let i = 0; i < list.length; i += perLine) lines.push(list.slice(i, i + perLine).join(", "));
  return `${indent}elements = { ${lines.join(`,\n${indent}\t     `)} }\n`;
}

export function setBlock(spec: NftSetSpec, elements: Iterable<string>): string {
  assertSafeNftName(spec.name);
  const flags = spec.interval ? "\t\tflags interval\n" : "";
  return `\tset ${spec.name} {\n\t\ttype ${spec.type}\n${flags}${elementsBlock(spec, elements)}\t}\n`;
}

export function chainBlock(c: NftChain): string {
  assertSafeNftName(c.name);
  for (const r of c.rules) assertSafeNftRule(r.text);
  const head = c.base ? `\t\t${baseChainLine(c.base)}\n` : "";
  const rules = c.rules.map((r) => `\t\t${r.text}\n`).join("");
  return `\tchain ${c.name} {\n${head}${rules}\t}\n`;
}

/** One of our tables (`table`, holding `want`: a part of parts.ts) as `nft -f` input (and `nft -s list table` output). */
export function renderOneTable(family: NftFamily, table: string, want: NftDesired): string {
  return [...tableTextParts(family, table, want)].join("");
}

/**
 * renderOneTable's text, block by block as it is rendered: a cold load writes each block to
 * nft while nft parses the ones before (nftables/cold-load.ts). Throws, like renderOneTable,
 * at the first name or rule that could not be one token or one command.
 */
export function* tableTextParts(family: NftFamily, table: string, want: NftDesired): Generator<string> {
  yield `table ${family} ${table} {\n`;
  let sep = "";
  for (const s of familySets(want.sets, family)) {
    yield sep + setBlock(s.spec, s.elements);
    sep = "\n";
  }
  // kube-proxy's maps and affinity sets (FELIX_PROXYMODE=nftables), after the IP sets.
  for (const o of familyObjects(want.objects, family === "ip" ? 4 : 6)) {
    yield sep + objectBlock(nftObjectSpec(o), [...nftObjectElements(o)].sort());
    sep = "\n";
  }
  for (const c of familyChains(want.tables)) {
    yield sep + chainBlock(c);
    sep = "\n";
  }
  yield "}\n";
}

/**
 * The family's tables of ours (`calico`, then the nat tables in shard
 * order; one without chains and sets is left out) as one `nft -f` input, a blank line between.
 */
export function renderNftTable(
  family: NftFamily,
  tables: FamilyTables,
  sets: IpSets,
  objects?: Readonly<Record<string, NftObjectState>>,
): string {
  return renderedParts(family, tables, sets, objects)
    .map((p) => p.text)
    .join("\n");
}

/** Each of our tables with its text, as renderNftTable joins them (the tests load and list them one by one). */
export function renderedParts(
  family: NftFamily,
  tables: FamilyTables,
  sets: IpSets,
  objects?: Readonly<Record<string, NftObjectState>>,
): { table: string; text: string }[] {
  const v = family === "ip" ? 4 : 6;
  return splitDesired(objects ? { tables, sets, objects } : { tables, sets })
    .filter(({ desired: d }) => !emptyPart(d, v))
    .map(({ table, desired }) => ({ table, text: renderOneTable(family, table, desired) }));
}

/** Both families' tables, as `felix-dump nftables` prints them (IPv6 only when enabled). */
export function renderNftRuleset(
  state: {
    readonly iptables: Readonly<Record<"ipv4" | "ipv6", FamilyTables>>;
    readonly ipsets: IpSets;
    readonly nftObjects?: Readonly<Record<string, NftObjectState>>;
  },
  ipv6: boolean,
): string {
  const v4 = renderNftTable("ip", state.iptables.ipv4, state.ipsets, state.nftObjects);
  return ipv6 ? `${v4}\n${renderNftTable("ip6", state.iptables.ipv6, state.ipsets, state.nftObjects)}` : v4;
}
