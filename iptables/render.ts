// Chains → rendered rules with hashes, and desired tables → iptables-restore
// text (the iptables-save view: our chains and our rules in built-in chains).

import { renderRule, ruleHashes } from "./hash.js";
import type { Chain, Rule } from "./rule.js";
import {
  BUILTIN_CHAINS,
  type FamilyTables,
  type HookRules,
  type RenderedChain,
  type RenderedRule,
  TABLE_NAMES,
  type TableState,
} from "./tables.js";

export function renderRules(hashSeed: string, rules: readonly Rule[]): RenderedRule[] {
  const hashes = ruleHashes(hashSeed, rules);
  return rules.map((r, i) => ({ text: renderRule(r, hashes[i]), hash: hashes[i] }));
}

export function renderChain(c: Chain): RenderedChain {
  return { name: c.name, rules: renderRules(c.name, c.rules) };
}

/** Appended rules hash from a seed of their own so inserts and appends stay independent. */
export function renderHook(builtin: string, insert: readonly Rule[], append: readonly Rule[]): HookRules {
  return { insert: renderRules(builtin, insert), append: renderRules(`${builtin}*appends*`, append) };
}

/** True when two rendered chains hold the same rules (hashes cover the text). */
export function sameRules(a: readonly RenderedRule[], b: readonly RenderedRule[]): boolean {
  return a.length === b.length && a.every((r, i) => r.hash === b[i].hash);
}

export const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** One table as iptables-restore input, or "" when it holds nothing of ours. */
export function renderTable(name: string, t: TableState): string {
  const chainNames = Object.keys(t.chains).sort(byName);
  const builtins = (BUILTIN_CHAINS as Record<string, readonly string[]>)[name] ?? [];
  const hooked = builtins.filter((b) => t.hooks[b] && (t.hooks[b].insert.length || t.hooks[b].append.length));
  if (chainNames.length === 0 && hooked.length === 0) return "";
  const lines = [`*${name}`];
  for (const c of chainNames) lines.push(`:${c} - [0:0]`);
  for (const b of hooked) {
    for (const r of [...t.hooks[b].insert, ...t.hooks[b].append]) lines.push(`-A ${b} ${r.text}`);
  }
  for (const c of chainNames) for (const r of t.chains[c].rules) lines.push(`-A ${c} ${r.text}`);
  lines.push("COMMIT");
  return `${lines.join("\n")}\n`;
}

/** All tables of one family, in iptables-save's table order. */
export function renderTables(tables: FamilyTables): string {
  return TABLE_NAMES.map((n) => renderTable(n, tables[n])).join("");
}
