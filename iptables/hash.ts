// Rule hashes: each rule's `cali:<hash>` comment covers the chain name, its
// own text and the text of the rule just before it (plus a counter when that
// pair repeats), so every hash in a chain is unique and the syncer can tell
// its rules and their versions apart by hash alone. Felix chains each hash
// over all predecessors, so one rule inserted near the top renames every rule
// below it; with the local context an insertion renames at most the rule right
// after it, and the syncer can edit a chain in place (a few -I/-D) instead of
// rewriting it.

import { hash } from "node:crypto";
import type { Rule } from "./rule.js";
import type { RenderedRule } from "./tables.js";

export const HASH_LENGTH = 16;
export const HASH_PREFIX = "cali:";

/** The rule text without the hash comment; the input of the hash. */
export function ruleBody(r: Rule): string {
  return joinParts(r.match.basic, r.comment === undefined ? "" : `-m comment --comment ${quote(r.comment)}`, r);
}

/** `basic comment… rest action`, skipping empty parts. */
function joinParts(basic: string, comments: string, r: Rule): string {
  let s = basic;
  for (const p of [comments, r.match.rest, r.action]) if (p) s = s ? `${s} ${p}` : p;
  return s;
}

/** The hash of one rule, given the chain's seed, its predecessor's body and how often that pair came before. */
export function ruleHash(seed: string, prevBody: string, body: string, n: number): string {
  // One-shot hashing: about half the cost of a Hash object per rule (hundreds of thousands at start-up).
  return hash("sha224", `${seed}\0${prevBody}\n${body}\0${n}`, "base64url").slice(0, HASH_LENGTH);
}

/**
 * The rule as iptables-save prints it (without `-A <chain>`): its body with
 * the hash comment after the basic matches. The text is flattened and the
 * hash is a slice of it, so a kept rule costs one flat string: a rope of
 * concatenated parts costs about four times as much heap, and hundreds of
 * thousands of rules are kept at scale.
 */
export function renderedRule(r: Rule, body: string, hash: string): RenderedRule {
  const basic = r.match.basic;
  const tail = basic ? body.slice(basic.length + 1) : body;
  const head = basic ? `${basic} ${HASH_COMMENT}` : HASH_COMMENT;
  const text = flat(tail ? `${head}${hash}" ${tail}` : `${head}${hash}"`);
  const at = head.length;
  return { text, hash: text.slice(at, at + HASH_LENGTH) };
}

// The hash needs no escaping: base64url has no quote or backslash.
const HASH_COMMENT = `-m comment --comment "${HASH_PREFIX}`;

/** The same string, flattened in place (a character read makes V8 flatten a rope; GC then drops the rope). */
export function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

/** Quotes as iptables-save does: bare when alphanumeric, else in double quotes. */
export function quote(s: string): string {
  if (ALNUM.test(s)) return s;
  if (!s.includes('"') && !s.includes("\\")) return `"${s}"`;
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

const ALNUM = /^[A-Za-z0-9]+$/;
