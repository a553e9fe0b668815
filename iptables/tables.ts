// The desired content of the kernel's tables, as the graph hands it over:
// chains we own plus the rules we hook into the kernel's built-in chains.

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
}

/** Our rules in one built-in chain: `insert` go first, `append` go last. */
export interface HookRules {
  readonly insert: readonly RenderedRule[];
  readonly append: readonly RenderedRule[];
}

export interface TableState {
  readonly chains: Readonly<Record<string, RenderedChain>>;
  readonly hooks: Readonly<Record<string, HookRules>>;
}

export type FamilyTables = Readonly<Record<TableName, TableState>>;
