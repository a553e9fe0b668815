// The packet and byte counters of our table's rules (the `counter` statement
// render.ts puts before each rule's action), in the kernel's order per chain,
// each with the rule's hash comment so a reader can tell which rule it is.
// Read over netlink (netlink/read-counters.ts) or, where that cannot run, from
// `nft -j list table` (here).

import { commentHash } from "./view.js";

export interface RuleCounter {
  readonly chain: string;
  /** The rule's `cali:<hash>`, undefined for a rule without one (not ours). */
  readonly hash: string | undefined;
  /** Undefined when the rule has no counter statement. */
  readonly packets: number | undefined;
  readonly bytes: number | undefined;
}

type Json = Record<string, unknown>;

/** The counters in `nft -j list table <family> calico` output. */
export function countersFromJson(text: string): RuleCounter[] {
  const doc = JSON.parse(text) as { nftables?: Json[] };
  const out: RuleCounter[] = [];
  for (const item of doc.nftables ?? []) {
    const r = item.rule as Json | undefined;
    if (!r) continue;
    const exprs = Array.isArray(r.expr) ? (r.expr as Json[]) : [];
    const c = exprs.find((e) => e && typeof e === "object" && "counter" in e)?.counter as Json | undefined;
    out.push({
      chain: String(r.chain),
      hash: commentHash(r.comment as string | undefined),
      packets: typeof c?.packets === "number" ? c.packets : undefined,
      bytes: typeof c?.bytes === "number" ? c.bytes : undefined,
    });
  }
  return out;
}
