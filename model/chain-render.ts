// Chains → rendered rules with hashes, through one backend's RuleRenderer.
// Rules are immutable and long chains are often re-rendered almost unchanged
// (a dispatch chain of thousands of rules when one service changes): their
// renderings are reused while the chain seed, the predecessor's body and the
// repeat count match. Short chains are rendered afresh: remembering each of
// their (hundreds of thousands of) rules costs more at start-up than it saves.

import { chainHash, flat, followerHash, ruleHash } from "./hash.js";
import type { Chain, Rule } from "./rule.js";
import type { RuleContext, RuleRenderer } from "./rule-renderer.js";
import type { HookRules, RenderedChain, RenderedRule } from "./tables.js";

/** A rule's rendering, kept with what its hash depends on besides the rule itself. */
interface Memo {
  readonly ctx: string;
  readonly seed: string;
  readonly prev: string;
  readonly n: number;
  readonly rendered: RenderedRule;
}

const MEMO_MIN_RULES = 64;

export class ChainRenderer {
  private readonly bodies = new WeakMap<Rule, string>();
  /** Bodies of a context-dependent renderer, with the context they were rendered in. */
  private readonly bodiesIn = new WeakMap<Rule, { readonly ctx: string; readonly body: string }>();
  private readonly memos = new WeakMap<Rule, Memo>();

  constructor(readonly rules: RuleRenderer) {}

  /** The rule's body, remembered per (immutable) Rule object. */
  bodyOf(r: Rule, ctx: RuleContext): string {
    if (this.rules.contextFree) {
      let b = this.bodies.get(r);
      if (b === undefined) {
        b = this.rules.body(r, ctx);
        this.bodies.set(r, b);
      }
      return b;
    }
    const k = ctxKey(ctx);
    const m = this.bodiesIn.get(r);
    if (m && m.ctx === k) return m.body;
    const body = this.rules.body(r, ctx);
    this.bodiesIn.set(r, { ctx: k, body });
    return body;
  }

  renderRules(hashSeed: string, rules: readonly Rule[], ctx: RuleContext): RenderedRule[] {
    // Sized up front: an array grown by push keeps room for 17 or more (~58k chains at scale).
    const out = new Array<RenderedRule>(rules.length);
    const memo = rules.length >= MEMO_MIN_RULES;
    const seen = memo ? new Map<string, Map<string, number>>() : undefined;
    const k = this.rules.contextFree ? "" : ctxKey(ctx);
    let prev = "";
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      const body = memo ? this.bodyOf(r, ctx) : this.rules.body(r, ctx);
      const n = seen ? timesSeenLong(seen, prev, body) : timesSeenShort(i, prev, body);
      const m = memo ? this.memos.get(r) : undefined;
      if (m && m.ctx === k && m.seed === hashSeed && m.prev === prev && m.n === n) {
        out[i] = m.rendered;
      } else {
        const rendered = this.rules.rendered(r, body, ruleHash(hashSeed, prev, body, n), ctx);
        if (memo) this.memos.set(r, { ctx: k, seed: hashSeed, prev, n, rendered });
        out[i] = rendered;
      }
      prev = body;
    }
    return out;
  }

  /** A one-id chain's rules (Chain.oneId): the first with the chain's hash, the others bare. */
  private renderOneId(seed: string, rules: readonly Rule[], ctx: RuleContext): RenderedRule[] {
    const memo = rules.length >= MEMO_MIN_RULES;
    const bodies = rules.map((r) => flat(memo ? this.bodyOf(r, ctx) : this.rules.body(r, ctx)));
    if (bodies.length === 0) return [];
    const first = this.rules.rendered(rules[0], bodies[0], chainHash(seed, bodies), ctx);
    return bodies.map((text, i) => (i === 0 ? first : { text, hash: followerHash(first.hash, i) }));
  }

  renderChain(c: Chain, ctx: RuleContext): RenderedChain {
    const rules =
      c.oneId && this.rules.bodiesListed
        ? this.renderOneId(c.name, c.rules, ctx)
        : this.renderRules(c.name, c.rules, ctx);
    return c.natShard === undefined
      ? { name: flat(c.name), rules }
      : { name: flat(c.name), rules, natShard: c.natShard };
  }

  /** Appended rules hash from a seed of their own so inserts and appends stay independent. */
  renderHook(builtin: string, insert: readonly Rule[], append: readonly Rule[], ctx: RuleContext): HookRules {
    return {
      insert: this.renderRules(builtin, insert, ctx),
      append: this.renderRules(`${builtin}*appends*`, append, ctx),
    };
  }
}

const renderers = new WeakMap<RuleRenderer, ChainRenderer>();

/** The one ChainRenderer (and memo) of a RuleRenderer. */
export function chainRenderer(r: RuleRenderer): ChainRenderer {
  let c = renderers.get(r);
  if (!c) {
    c = new ChainRenderer(r);
    renderers.set(r, c);
  }
  return c;
}

const ctxKey = (ctx: RuleContext) => `${ctx.family}${ctx.table}`;

/**
 * How often a (predecessor body, body) pair came before in one chain: a map
 * for long chains, a scan for the short ones (most chains; no maps to allocate).
 */
function timesSeenLong(seen: Map<string, Map<string, number>>, prev: string, body: string): number {
  let after = seen.get(prev);
  if (!after) {
    after = new Map();
    seen.set(prev, after);
  }
  const n = after.get(body) ?? 0;
  after.set(body, n + 1);
  return n;
}

/**
 * A short chain's bodies so far, by rule index: one scratch array for every chain (renderRules does
 * not nest), written over rather than emptied (emptying frees its store); entries past the current
 * chain's rule are never read.
 */
const SHORT_BODIES: string[] = [];

/** The scan for rule i: body j's predecessor is body j - 1 (the first rule's is ""). Records rule i's body. */
function timesSeenShort(i: number, prev: string, body: string): number {
  let n = 0;
  for (let j = 0; j < i; j++) if (SHORT_BODIES[j] === body && (j === 0 ? "" : SHORT_BODIES[j - 1]) === prev) n++;
  SHORT_BODIES[i] = body;
  return n;
}

/** True when two rendered chains hold the same rules (hashes cover the text). */
export function sameRules(a: readonly RenderedRule[], b: readonly RenderedRule[]): boolean {
  return a.length === b.length && a.every((r, i) => r.hash === b[i].hash);
}

export const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
