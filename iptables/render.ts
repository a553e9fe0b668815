// Chains → rendered rules with hashes, and desired tables → iptables-restore
// text (the iptables-save view: our chains and our rules in built-in chains).

import { flat, renderedRule, ruleBody, ruleHash } from "./hash.js";
import type { Chain, Rule } from "./rule.js";
import { assertLineCount, assertSafeChainName } from "./safe-text.js";
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
} from "./tables.js";

/** A rule's rendering, kept with what its hash depends on besides the rule itself. */
interface Memo {
  readonly seed: string;
  readonly prev: string;
  readonly n: number;
  readonly rendered: RenderedRule;
}

// Rules are immutable and long chains are often re-rendered almost unchanged
// (a dispatch chain of thousands of rules when one service changes): their
// renderings are reused while the chain seed, the predecessor's body and the
// repeat count match. Short chains are rendered afresh: remembering each of
// their (hundreds of thousands of) rules costs more at start-up than it saves.
const MEMO_MIN_RULES = 64;
const bodies = new WeakMap<Rule, string>();
const memos = new WeakMap<Rule, Memo>();

/** ruleBody, remembered per (immutable) Rule object. */
export function bodyOf(r: Rule): string {
  let b = bodies.get(r);
  if (b === undefined) {
    b = ruleBody(r);
    bodies.set(r, b);
  }
  return b;
}

export function renderRules(hashSeed: string, rules: readonly Rule[]): RenderedRule[] {
  const out: RenderedRule[] = [];
  const memo = rules.length >= MEMO_MIN_RULES;
  const timesSeen = pairCounter(memo);
  let prev = "";
  for (const r of rules) {
    const body = memo ? bodyOf(r) : ruleBody(r);
    const n = timesSeen(prev, body);
    const m = memo ? memos.get(r) : undefined;
    if (m && m.seed === hashSeed && m.prev === prev && m.n === n) {
      out.push(m.rendered);
    } else {
      const rendered = renderedRule(r, body, ruleHash(hashSeed, prev, body, n));
      if (memo) memos.set(r, { seed: hashSeed, prev, n, rendered });
      out.push(rendered);
    }
    prev = body;
  }
  return out;
}

/**
 * How often a (predecessor body, body) pair came before in one chain: a map
 * for long chains, a scan for the short ones (most chains; no maps to allocate).
 */
function pairCounter(long: boolean): (prev: string, body: string) => number {
  if (long) {
    const seen = new Map<string, Map<string, number>>();
    return (prev, body) => {
      let after = seen.get(prev);
      if (!after) {
        after = new Map();
        seen.set(prev, after);
      }
      const n = after.get(body) ?? 0;
      after.set(body, n + 1);
      return n;
    };
  }
  const prevs: string[] = [];
  const bodies: string[] = [];
  return (prev, body) => {
    let n = 0;
    for (let j = 0; j < bodies.length; j++) if (bodies[j] === body && prevs[j] === prev) n++;
    prevs.push(prev);
    bodies.push(body);
    return n;
  };
}

export function renderChain(c: Chain): RenderedChain {
  return { name: flat(c.name), rules: renderRules(c.name, c.rules) };
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
  const names = chainNames(t).sort(byName);
  const builtins = (BUILTIN_CHAINS as Record<string, readonly string[]>)[name] ?? [];
  const hooked = builtins.filter((b) => t.hooks[b] && (t.hooks[b].insert.length || t.hooks[b].append.length));
  if (names.length === 0 && hooked.length === 0) return "";
  const lines = [`*${name}`];
  for (const c of names) lines.push(`:${c} - [0:0]`);
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
export function renderTables(tables: FamilyTables): string {
  return TABLE_NAMES.map((n) => renderTable(n, tables[n])).join("");
}
