// The token stream a rule statement is compiled from, the expressions
// compiled so far, and nft's protocol dependency context (a `tcp dport` after
// an earlier match fixed the protocol needs no `meta l4proto tcp` of its own).

import type { NftFamily } from "../backend.js";
import type { NftSetKey } from "../commands.js";
import type { Attr } from "./codec.js";
import * as X from "./exprs.js";
import { type AnonSetDef, unsupported } from "./rule-values.js";

export interface CompileContext {
  readonly family: NftFamily;
  /** Our named sets' keys (a lookup into an interval concatenation needs nft's byteorder step). */
  readonly setKey: (name: string) => NftSetKey | undefined;
  /** Declares an anonymous set; returns the name and batch id a lookup refers to it by. */
  readonly anonSet: (def: AnonSetDef) => { readonly name: string; readonly id: number };
}

export interface CompiledRule {
  readonly exprs: readonly Attr[];
  /** NFTA_RULE_USERDATA: the comment, as nft stores it. */
  readonly userdata?: Buffer;
}

export class RuleStream {
  readonly out: Attr[] = [];
  at = 0;
  /** The transport protocol an earlier match fixed (nft's dependency context). */
  l4: number | undefined;
  userdata?: Buffer;
  readonly v6: boolean;

  constructor(
    readonly toks: readonly string[],
    readonly ctx: CompileContext,
  ) {
    this.v6 = ctx.family === "ip6";
  }

  peek(k = 0): string | undefined {
    return this.toks[this.at + k];
  }
  next(): string | undefined {
    return this.toks[this.at++];
  }
  expect(t: string): void {
    const got = this.next();
    if (got !== t) throw unsupported(`${JSON.stringify(got)} where ${JSON.stringify(t)} belongs`);
  }
  /** `!=` (or `!` for bit tests) before a value: consumed, true. */
  negation(sign = "!="): boolean {
    if (this.peek() !== sign) return false;
    this.at++;
    return true;
  }

  /** Inserts `meta l4proto <p>` unless an earlier match fixed it (nft's protocol dependency). */
  dependency(proto: number): void {
    if (this.l4 === proto) return;
    this.out.push(X.metaLoad(X.MetaKey.l4proto), X.cmp(X.CmpOp.eq, Buffer.from([proto])));
    this.l4 = proto;
  }
}
