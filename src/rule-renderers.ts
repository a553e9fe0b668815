// The wiring's choice of how the graph writes rules: iptables-save lines for
// the iptables dataplane, nft statements for the nftables one. The nft renderer
// is imported only by a start that renders nft: an iptables-mode start does not
// load it (test/src/cli/lazy-modules.test.ts).

import { IPTABLES_RULES } from "../iptables/rule-render.js";
import type { RuleRenderer } from "../model/rule-renderer.js";

export type RuleDataplane = "iptables" | "nftables";

export async function loadRuleRenderer(dataplane: RuleDataplane): Promise<RuleRenderer> {
  return dataplane === "nftables" ? (await import("../nftables/render.js")).NFT_RULES : IPTABLES_RULES;
}
