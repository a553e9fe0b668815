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

/** A command of one transaction; `table` is the table of ours it goes to (absent: `calico`). */
export type NftCommand = NftTableCommand & { readonly table?: string };

type NftTableCommand =
  | { readonly op: "flush chain" | "delete chain"; readonly chain: string }
  | { readonly op: "delete set"; readonly set: string }
  | { readonly op: "add set"; readonly set: string; readonly key: NftSetKey }
  | {
      readonly op: "add element" | "delete element";
      readonly set: string;
      readonly key: NftSetKey;
      readonly elements: readonly string[];
    }
  | { readonly op: "add chain"; readonly chain: string; readonly base?: BaseChainSpec }
  /** `rule` is one statement as render.ts writes it (ending in its `cali:` comment). */
  | { readonly op: "add rule"; readonly chain: string; readonly rule: string }
  /** A command only as nft text (maps, affinity sets: plan-objects.ts); netlink/ does not write these. */
  | { readonly op: "text"; readonly text: string };

export function setTypeText(key: NftSetKey): string {
  return `type ${key.type};${key.interval ? " flags interval;" : ""}`;
}

export function commandText(family: NftFamily, c: NftCommand): string {
  const t = `${family} ${c.table ?? NFT_TABLE}`;
  switch (c.op) {
    case "flush chain":
    case "delete chain":
      return `${c.op} ${t} ${c.chain}`;
    case "delete set":
      return `delete set ${t} ${c.set}`;
    case "add set":
      return `add set ${t} ${c.set} { ${setTypeText(c.key)} }`;
    case "add element":
    case "delete element":
      return `${c.op} ${t} ${c.set} { ${c.elements.join(", ")} }`;
    case "add chain":
      return `add chain ${t} ${c.chain}${c.base ? ` { ${baseChainLine(c.base)} }` : ""}`;
    case "add rule":
      return `add rule ${t} ${c.chain} ${c.rule}`;
    case "text":
      return c.text;
  }
}

/** The commands as one `nft -f` script ("" for none). */
export function commandsScript(family: NftFamily, cmds: readonly NftCommand[]): string {
  if (cmds.length === 0) return "";
  let out = "";
  for (const c of cmds) out += `${commandText(family, c)}\n`;
  return out;
}
