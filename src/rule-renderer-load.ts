// The agent's and felix-dump's way to the graph's rule renderer (src/rule-renderers.ts): the nft
// renderer is imported only by a start that renders nft, so an iptables-mode one does not load it.

import { IPTABLES_RULES } from "../iptables/rule-render.js";
import type { RuleRenderer } from "../model/rule-renderer.js";
import type { RuleDataplane } from "./rule-renderers.js";

export async function loadRuleRenderer(dataplane: RuleDataplane): Promise<RuleRenderer> {
  return dataplane === "nftables" ? (await import("../nftables/render.js")).NFT_RULES : IPTABLES_RULES;
}
