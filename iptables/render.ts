// Chains → rendered rules with hashes, and desired tables → iptables-restore
// text (the iptables-save view: our chains and our rules in built-in chains).

import { byName, chainRenderer, sameRules } from "../model/chain-render.js";
import type { Chain, Rule } from "../model/rule.js";
import type { RuleContext } from "../model/rule-renderer.js";
import {
  BUILTIN_CHAINS,
  chainNames,
  chainOf,
  type FamilyTables,
  type HookRules,
  type RenderedChain,
  type RenderedRule,
  TABLE_NAMES,
  type TableState,
} from "../model/tables.js";
import { IPTABLES_RULES } from "./rule-render.js";
import { assertLineCount, assertSafeChainName } from "./safe-text.js";
import { restoreDeclarationOrder } from "./table-plan.js";

export { byName, sameRules };

/** The graph's default rendering: iptables rules, remembered per rule (model/chain-render.ts). */
export const IPTABLES_CHAINS = chainRenderer(IPTABLES_RULES);

// iptables text does not depend on the family or table.
const ANY: RuleContext = { family: 4, table: "filter" };

/** ruleBody, remembered per (immutable) Rule object. */
export const bodyOf = (r: Rule): string => IPTABLES_CHAINS.bodyOf(r, ANY);
export const renderRules = (hashSeed: string, rules: readonly Rule[]): RenderedRule[] =>
  IPTABLES_CHAINS.renderRules(hashSeed, rules, ANY);
export const renderChain = (c: Chain): RenderedChain => IPTABLES_CHAINS.renderChain(c, ANY);
export const renderHook = (builtin: string, insert: readonly Rule[], append: readonly Rule[]): HookRules =>
  IPTABLES_CHAINS.renderHook(builtin, insert, append, ANY);

/**
 * One table as iptables-restore input, or "" when it holds nothing of ours. Chains are declared
 * in name order (felix-dump, goldens), or as the table syncer declares them (`restoreOrder`:
 * the bench's floor writes what the agent would).
 */
export function renderTable(name: string, t: TableState, o: { restoreOrder?: boolean } = {}): string {
  const names = chainNames(t).sort(byName);
  const builtins = (BUILTIN_CHAINS as Record<string, readonly string[]>)[name] ?? [];
  const hooked = builtins.filter((b) => t.hooks[b] && (t.hooks[b].insert.length || t.hooks[b].append.length));
  if (names.length === 0 && hooked.length === 0) return "";
  const lines = [`*${name}`];
  const declared = o.restoreOrder ? restoreDeclarationOrder([...names]) : names;
  for (const c of declared) lines.push(`:${c} - [0:0]`);
  for (const b of hooked) {
    for (const r of [...t.hooks[b].insert, ...t.hooks[b].append]) lines.push(`-A ${b} ${r.text}`);
  }
  for (const c of names) for (const r of chainOf(t, c)!.rules) lines.push(`-A ${c} ${r.text}`);
  lines.push("COMMIT");
  for (const c of names) assertSafeChainName(c);
  const text = `${lines.join("\n")}\n`;
  assertLineCount(text, lines.length, name);
  return text;
}

/** All tables of one family, in iptables-save's table order. */
export function renderTables(tables: FamilyTables, o: { restoreOrder?: boolean } = {}): string {
  return TABLE_NAMES.map((n) => renderTable(n, tables[n], o)).join("");
}
