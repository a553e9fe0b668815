// The graph renders iptables rules unless the wiring gives it another
// RuleRenderer (GraphConfig.ruleRenderer): the one place calc-graph names a backend.

import { IPTABLES_CHAINS } from "../iptables/render.js";
import type { ChainRenderer } from "../model/chain-render.js";

export const DEFAULT_CHAINS: ChainRenderer = IPTABLES_CHAINS;
