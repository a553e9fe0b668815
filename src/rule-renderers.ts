// The wiring's choice of how the graph writes rules: iptables-save lines for
// the iptables dataplane, nft statements for the nftables one. The agent
// uses iptables until the nftables kernel side (issue 18) takes nft rules.

import { IPTABLES_RULES } from "../iptables/rule-render.js";
import type { RuleRenderer } from "../model/rule-renderer.js";
import { NFT_RULES } from "../nftables/render.js";

export type RuleDataplane = "iptables" | "nftables";

export function ruleRendererFor(dataplane: RuleDataplane): RuleRenderer {
  return dataplane === "nftables" ? NFT_RULES : IPTABLES_RULES;
}
