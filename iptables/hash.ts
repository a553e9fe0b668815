// Kept for existing imports: the hashing is backend-neutral (model/hash.ts),
// the rule text is iptables' (rule-render.ts).

export { flat, HASH_LENGTH, HASH_PREFIX, ruleHash } from "../model/hash.js";
export { quote, renderedRule, ruleBody } from "./rule-render.js";
