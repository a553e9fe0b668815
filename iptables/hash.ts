// Rule hashes: each rule's `cali:<hash>` comment covers its own text and every
// rule before it in the chain (seeded with the chain name), as Felix does, so
// the syncer can tell its rules and their versions apart by hash alone.

import { createHash } from "node:crypto";
import type { Rule } from "./rule.js";

export const HASH_LENGTH = 16;
export const HASH_PREFIX = "cali:";

/** The rule text without the hash comment; the input of the hash. */
export function ruleBody(r: Rule): string {
  const parts = [r.match.basic];
  if (r.comment !== undefined) parts.push(`-m comment --comment ${quote(r.comment)}`);
  parts.push(r.match.rest, r.action);
  return parts.filter(Boolean).join(" ");
}

export function ruleHashes(chainName: string, rules: readonly Rule[]): string[] {
  const out: string[] = [];
  let prev = createHash("sha224").update(chainName).digest();
  for (const r of rules) {
    prev = createHash("sha224").update(prev).update(ruleBody(r)).digest();
    out.push(prev.toString("base64url").slice(0, HASH_LENGTH));
  }
  return out;
}

/** The full rule text as iptables-save prints it, without `-A <chain>`. */
export function renderRule(r: Rule, hash: string): string {
  const parts = [r.match.basic, `-m comment --comment ${quote(HASH_PREFIX + hash)}`];
  if (r.comment !== undefined) parts.push(`-m comment --comment ${quote(r.comment)}`);
  parts.push(r.match.rest, r.action);
  return parts.filter(Boolean).join(" ");
}

/** Quotes as iptables-save does: bare when alphanumeric, else in double quotes. */
export function quote(s: string): string {
  if (/^[A-Za-z0-9]+$/.test(s)) return s;
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}
