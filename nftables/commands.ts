// One transaction as structured commands (what plan.ts decides), and the
// same commands as `nft -f` text (felix-dump, the fake backend, and the
// fallback when the netlink writer cannot express one of them). Names and rule
// texts are checked by the planner before they get here.

import type { NftFamily } from "./backend.js";
import type { BaseChainSpec } from "./chains.js";
import { baseChainLine } from "./chains.js";
import { NFT_TABLE } from "./names.js";

/** A set's key as `nft list` prints it, and whether it holds intervals. */
export interface NftSetKey {
  readonly type: string;
  readonly interval: boolean;
}

/** A verdict map's element (kube-proxy's maps): its key as a set element's text, the verdict naming an nft chain. */
export interface NftMapElement {
  readonly key: string;
  readonly verdict: { readonly kind: "goto" | "jump"; readonly chain: string } | { readonly kind: "drop" };
}

export type NftCommand =
  | { readonly op: "flush chain" | "delete chain"; readonly chain: string }
  /** Deletes a set or a map. */
  | { readonly op: "delete set"; readonly set: string }
  /** `timeout` (seconds): a set the kernel fills by `update` (kube-proxy's affinity sets). */
  | { readonly op: "add set"; readonly set: string; readonly key: NftSetKey; readonly timeout?: number }
  /** A set's elements, or (delete) a map's elements by their keys: `key` is the set's or the map's key. */
  | {
      readonly op: "add element" | "delete element";
      readonly set: string;
      readonly key: NftSetKey;
      readonly elements: readonly string[];
    }
  /** A verdict map keyed by `key`. */
  | { readonly op: "add map"; readonly map: string; readonly key: NftSetKey }
  | {
      readonly op: "add map element";
      readonly map: string;
      readonly key: NftSetKey;
      readonly elements: readonly NftMapElement[];
    }
  | { readonly op: "add chain"; readonly chain: string; readonly base?: BaseChainSpec }
  /** `rule` is one statement as render.ts writes it (ending in its `cali:` comment). */
  | { readonly op: "add rule"; readonly chain: string; readonly rule: string };

export function setTypeText(key: NftSetKey): string {
  return `type ${key.type};${key.interval ? " flags interval;" : ""}`;
}

/** A set's declaration body; a timeout set as nft lists one `update` fills (its size 65535 declared). */
export function setDeclText(key: NftSetKey, timeout?: number): string {
  if (timeout === undefined) return setTypeText(key);
  return `type ${key.type}; size 65535; flags dynamic,timeout; timeout ${timeout}s;`;
}

export function mapElementText(e: NftMapElement): string {
  return `${e.key} : ${e.verdict.kind === "drop" ? "drop" : `${e.verdict.kind} ${e.verdict.chain}`}`;
}

export function commandText(family: NftFamily, c: NftCommand): string {
  const t = `${family} ${NFT_TABLE}`;
  switch (c.op) {
    case "flush chain":
    case "delete chain":
      return `${c.op} ${t} ${c.chain}`;
    case "delete set":
      return `delete set ${t} ${c.set}`;
    case "add set":
      return `add set ${t} ${c.set} { ${setDeclText(c.key, c.timeout)} }`;
    case "add element":
    case "delete element":
      return `${c.op} ${t} ${c.set} { ${c.elements.join(", ")} }`;
    case "add map":
      return `add map ${t} ${c.map} { type ${c.key.type} : verdict; }`;
    case "add map element":
      return `add element ${t} ${c.map} { ${c.elements.map(mapElementText).join(", ")} }`;
    case "add chain":
      return `add chain ${t} ${c.chain}${c.base ? ` { ${baseChainLine(c.base)} }` : ""}`;
    case "add rule":
      return `add rule ${t} ${c.chain} ${c.rule}`;
  }
}

/** The commands as one `nft -f` script ("" for none). */
export function commandsScript(family: NftFamily, cmds: readonly NftCommand[]): string {
  if (cmds.length === 0) return "";
  let out = "";
  for (const c of cmds) out += `${commandText(family, c)}\n`;
  return out;
}
