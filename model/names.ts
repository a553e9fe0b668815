// Length-limited chain names (28 characters, Felix's iptables limit; nft keeps them so both dataplanes name chains alike).

import { hash } from "node:crypto";

export const MAX_CHAIN_NAME_LENGTH = 28;

/** `prefix + id` when it fits, else `prefix + "_" + base64url(sha256(id))` cut to fit. */
export function lengthLimitedName(prefix: string, id: string, max = MAX_CHAIN_NAME_LENGTH): string {
  if (prefix.length + id.length <= max) return prefix + id;
  const h = hash("sha256", id, "base64url");
  return `${prefix}_${h}`.slice(0, max);
}
