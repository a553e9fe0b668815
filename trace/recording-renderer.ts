// A RuleRenderer that renders with another one and remembers, per rendered
// rule text (hash comment included; object identity does not survive the
// graph's first-flush copy), the typed Rule it came from: the tracer then walks the rule
// model itself (one evaluator for iptables and nftables), while the chains and
// their order are exactly those the graph put into the DesiredState.

import type { Rule } from "../model/rule.js";
import type { RuleRenderer } from "../model/rule-renderer.js";
import type { RenderedRule } from "../model/tables.js";

export interface RecordingRenderer {
  readonly renderer: RuleRenderer;
  /** The typed rule behind a rendered rule of a state computed with `renderer`. */
  ruleOf(r: RenderedRule): Rule | undefined;
}

export function recordingRenderer(inner: RuleRenderer): RecordingRenderer {
  const rules = new Map<string, Rule>();
  const renderer: RuleRenderer = {
    name: inner.name,
    contextFree: inner.contextFree,
    ...(inner.natShards !== undefined ? { natShards: inner.natShards } : {}),
    body: (r, ctx) => inner.body(r, ctx),
    rendered: (r, body, hash, ctx) => {
      const out = inner.rendered(r, body, hash, ctx);
      rules.set(out.text, r);
      return out;
    },
  };
  return { renderer, ruleOf: (r) => rules.get(r.text) };
}
