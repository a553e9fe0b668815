// Rule hashes: each rule's `cali:<hash>` comment covers the chain name, its
// own text and the text of the rule just before it (plus a counter when that
// pair repeats), so every hash in a chain is unique and the syncer can tell
// its rules and their versions apart by hash alone. Felix chains each hash
// over all predecessors, so one rule inserted near the top renames every rule
// below it; with the local context an insertion renames at most the rule right
// after it, and the syncer can edit a chain in place instead of rewriting it.
// The text hashed is the backend's rendering, so each backend has its own hashes.

import { hash } from "node:crypto";

export const HASH_LENGTH = 16;
export const HASH_PREFIX = "cali:";

/** The hash of one rule, given the chain's seed, its predecessor's body and how often that pair came before. */
export function ruleHash(seed: string, prevBody: string, body: string, n: number): string {
  // One-shot hashing: about half the cost of a Hash object per rule (hundreds of thousands at start-up).
  return hash("sha224", `${seed}\0${prevBody}\n${body}\0${n}`, "base64url").slice(0, HASH_LENGTH);
}

/**
 * A chain with one id (Chain.oneId): its first rule's hash covers the chain's name and every
 * rule's body, in order, so any change to the chain renames it.
 */
export function chainHash(seed: string, bodies: readonly string[]): string {
  return hash("sha224", `${seed}\0${bodies.join("\n")}`, "base64url").slice(0, HASH_LENGTH);
}

/**
 * The hash the syncer keeps for rule `i` (> 0) of a one-id chain, which carries no comment in
 * the kernel: unique in the chain and derived from the first rule's, never written anywhere.
 */
export const followerHash = (first: string, i: number): string => `${first}~${i}`;

/** Whether a rendered rule's hash is a follower's (no `~` in base64url). */
export const isFollowerHash = (h: string | undefined): boolean => h?.includes("~") === true;

/** The same string, flattened in place (a character read makes V8 flatten a rope; GC then drops the rope). */
export function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}
