// Rule hashes: each rule's `cali:<hash>` comment covers the chain name, its
// own text and the text of the rule just before it (plus a counter when that
// pair repeats), so every hash in a chain is unique and the syncer can tell
// its rules and their versions apart by hash alone. Felix chains each hash
// over all predecessors, so one rule inserted near the top renames every rule
// below it; with the local context an insertion renames at most the rule right
// after it, and the syncer can edit a chain in place (a few -I/-D) instead of
// rewriting it.

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

/** The hash of one rule, given the chain's seed, its predecessor's body and how often that pair came before. */
export function ruleHash(seed: string, prevBody: string, body: string, n: number): string {
  const h = createHash("sha224").update(seed).update("\0").update(`${prevBody}\n${body}`).update(`\0${n}`).digest();
  return h.toString("base64url").slice(0, HASH_LENGTH);
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
