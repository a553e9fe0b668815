// How a backend turns one rule of the model into text. The graph renders every
// rule through the RuleRenderer it was given (iptables by default), hashes the
// body and keeps only the flat text with its hash comment.

import type { Rule } from "./rule.js";
import type { RenderedRule, TableName } from "./tables.js";

/** Where a rule goes: its family and (iptables-)table; chain targets are resolved within the table. */
export interface RuleContext {
  readonly family: 4 | 6;
  readonly table: TableName;
}

export interface RuleRenderer {
  /** `iptables`, `nftables`: the dataplane this renders for. */
  readonly name: string;
  /** True when `body` ignores the context (then a rule's body can be remembered per rule). */
  readonly contextFree: boolean;
  /** Nat tables the dataplane spreads the services over (model/nat-shards.ts); absent: one. */
  readonly natShards?: number;
  /**
   * True when a rule's body is also a text the kernel lists as it is (iptables): a one-id chain's
   * rules after the first are written as their bodies (Chain.oneId). Otherwise every rule has its id.
   */
  readonly bodiesListed?: boolean;
  /** The rule's text without its hash comment: what the hash covers. Throws when the backend cannot express it. */
  body(r: Rule, ctx: RuleContext): string;
  /** The rule as the kernel lists it, with the hash comment, as one flat string; `hash` is a slice of it. */
  rendered(r: Rule, body: string, hash: string, ctx: RuleContext): RenderedRule;
}
