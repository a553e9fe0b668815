// The scalars of block-yaml.ts: where a plain scalar ends on its line, its
// type (by js-yaml's CORE_SCHEMA implicit types, in their order), one-line
// quoted scalars with js-yaml's escapes, and the recent-strings table that
// hands out internalized copies of short strings without slicing them.
// Each function looks at each character of its line once.

import { CORE_SCHEMA, type Type } from "js-yaml";
import { internalized } from "../../model/own-string.js";

export const FAIL: unique symbol = Symbol("fail");

export const SPACE = 0x20;
export const HASH = 0x23;
export const COLON = 0x3a;
const DASH = 0x2d;

/** The types js-yaml tries on a plain scalar, in its order (null, bool, int, float). */
const IMPLICIT = (CORE_SCHEMA as unknown as { compiledImplicit: Type[] }).compiledImplicit;

/** Scratch results of the last scan (no object made per call): where it ended, the hash of its text. */
export const scan = { end: 0, hash: 0 };

/** 'text' on one line, '' for a quote; scan.end past the closing quote. */
export function singleQuoted(t: string, i: number, eol: number): string | typeof FAIL {
  let out = "";
  let from = i + 1;
  for (let j = from; j < eol; j++) {
    if (t.charCodeAt(j) !== 0x27) continue;
    out += t.slice(from, j);
    if (t.charCodeAt(j + 1) === 0x27 && j + 1 < eol) {
      out += "'";
      from = ++j + 1;
      continue;
    }
    scan.end = j + 1;
    return out;
  }
  return FAIL;
}

/** "text" on one line with js-yaml's escapes; scan.end past the closing quote. */
export function doubleQuoted(t: string, i: number, eol: number): string | typeof FAIL {
  let out = "";
  let from = i + 1;
  for (let j = from; j < eol; j++) {
    const c = t.charCodeAt(j);
    if (c === 0x22) {
      scan.end = j + 1;
      return out + t.slice(from, j);
    }
    if (c !== 0x5c) continue;
    out += t.slice(from, j);
    const e = t.charCodeAt(++j);
    if (j >= eol) return FAIL;
    const simple = e < 128 ? SIMPLE_ESCAPES[e] : undefined;
    if (simple !== undefined) {
      out += simple;
    } else {
      const digits = e === 0x78 ? 2 : e === 0x75 ? 4 : e === 0x55 ? 8 : 0;
      if (digits === 0 || j + digits >= eol) return FAIL;
      let code = 0;
      for (let d = 1; d <= digits; d++) {
        const h = hexValue(t.charCodeAt(j + d));
        if (h < 0) return FAIL;
        code = code * 16 + h;
      }
      if (code > 0x10ffff) return FAIL;
      out += String.fromCodePoint(code);
      j += digits;
    }
    from = j + 1;
  }
  return FAIL;
}

/** js-yaml's one-character escapes (loader.js simpleEscapeSequence), but for an escaped tab (never read here). */
const SIMPLE_ESCAPES: (string | undefined)[] = [];
for (const [c, v] of Object.entries({
  "0": "\x00",
  a: "\x07",
  b: "\x08",
  t: "\t",
  n: "\n",
  v: "\x0b",
  f: "\x0c",
  r: "\r",
  e: "\x1b",
  " ": " ",
  '"': '"',
  "/": "/",
  "\\": "\\",
  N: "\x85",
  _: "\xa0",
  L: "\u2028",
  P: "\u2029",
}))
  SIMPLE_ESCAPES[c.charCodeAt(0)] = v;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/** The schema's implicit types in order, as js-yaml's composeNode tries them; else the string. */
export function resolvePlain(s: string): unknown {
  for (const type of IMPLICIT) if (type.resolve(s)) return type.construct(s);
  return s;
}

/**
 * Whether a plain scalar of `length` starting with `c` could be other than a string: all that do not
 * start with a letter, and the null and bool words (`null`, `True`, `FALSE`…: 4 or 5 letters, the
 * first one of n, t, f in either case). The tests prove the rest are strings.
 */
export function mayResolve(c: number, length: number): boolean {
  const l = c | 0x20;
  if (l < 0x61 || l > 0x7a) return true;
  return (length === 4 || length === 5) && (l === 0x6e || l === 0x74 || l === 0x66);
}

export function lineEnd(t: string, pos: number, end: number): number {
  const eol = t.indexOf("\n", pos);
  return eol < 0 || eol > end ? end : eol;
}

/** `-` then a space or the line's end: a sequence entry. */
export function isDash(t: string, i: number, eol: number): boolean {
  return t.charCodeAt(i) === DASH && (i + 1 === eol || t.charCodeAt(i + 1) === SPACE);
}

/** Characters a plain scalar does not start with here (js-yaml's indicators, and `?`, `:` always). */
const NOT_FIRST = charSet(",[]{}#&*!|>'\"%@`?: ");
/** Characters that end a plain item of a flow sequence (or make it one this reader leaves alone). */
const NOT_IN_FLOW_ITEM = charSet(",[]{}#:'\" ");

function charSet(chars: string): Uint8Array {
  const set = new Uint8Array(128);
  for (let k = 0; k < chars.length; k++) set[chars.charCodeAt(k)] = 1;
  return set;
}

/** Whether a plain scalar may start at `i` (conservatively: never on an indicator). */
export function plainStart(t: string, i: number, eol: number): boolean {
  const c = t.charCodeAt(i);
  if (c === DASH) return i + 1 < eol && t.charCodeAt(i + 1) !== SPACE;
  return i < eol && (c >= 128 || NOT_FIRST[c] === 0);
}

/**
 * Short strings read lately, internalized, by a hash of their text: keys and common values (`TCP`, a
 * namespace, a node name) repeat across documents and files, and are then found without a slice. Bounded
 * (4,096 × 64 characters): what it keeps alive after a file is read is at most ~0.5 MB.
 */
const RECENT_BITS = 12;
const RECENT_MAX_LENGTH = 64;
const RECENT: string[] = new Array<string>(1 << RECENT_BITS).fill("");

/**
 * `t[i, end)` internalized (`hash` as scanPlain left it), from RECENT when it is there (no slice made, no
 * lookup by content); undefined when longer than RECENT holds.
 */
export function recentString(t: string, i: number, end: number, hash: number): string | undefined {
  const n = end - i;
  if (n > RECENT_MAX_LENGTH) return undefined;
  // Two ways per set, the newer first: two frequent strings of one set (`app` and `namespace` in the
  // bench's manifests) do not evict each other.
  const a = (Math.imul(hash, 0x9e3779b1) >>> (32 - RECENT_BITS)) & ~1;
  const first = RECENT[a];
  if (first.length === n && sameText(first, t, i)) return first;
  const second = RECENT[a + 1];
  if (second.length === n && sameText(second, t, i)) return second;
  const s = internalized(t.slice(i, end));
  RECENT[a + 1] = first;
  RECENT[a] = s;
  return s;
}

/** Whether `t` holds `s` at `i` (a loop the compiler inlines: faster than startsWith on short strings). */
function sameText(s: string, t: string, i: number): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) !== t.charCodeAt(i + k)) return false;
  return true;
}

/**
 * Scans a plain scalar from `i` to the line's end or a ` #` comment: the index of a `: ` (or
 * line-ending `:`) key separator, or -1; scan is set either way.
 */
export function scanPlain(t: string, i: number, eol: number): number {
  let last = i;
  let h = 0;
  let lastHash = 0;
  for (let k = i; k < eol; k++) {
    const c = t.charCodeAt(k);
    if (c === COLON && (k + 1 === eol || t.charCodeAt(k + 1) === SPACE)) {
      scan.end = last;
      scan.hash = lastHash;
      return k;
    }
    if (c === HASH && t.charCodeAt(k - 1) === SPACE) break;
    h = (Math.imul(h, 31) + c) | 0;
    if (c !== SPACE) {
      last = k + 1;
      lastHash = h;
    }
  }
  scan.end = last;
  scan.hash = lastHash;
  return -1;
}

/** The end of a plain flow-sequence item from `i`: no spaces, no indicators inside; i when none may start. */
export function flowPlainEnd(t: string, i: number, eol: number): number {
  if (!plainStart(t, i, eol)) return i;
  const c0 = t.charCodeAt(i);
  const c1 = t.charCodeAt(i + 1);
  if (c0 === DASH && (c1 === 0x2c || c1 === 0x5d)) return i;
  let k = i;
  let h = 0;
  while (k < eol) {
    const c = t.charCodeAt(k);
    if (c < 128 && NOT_IN_FLOW_ITEM[c] === 1) break;
    h = (Math.imul(h, 31) + c) | 0;
    k++;
  }
  scan.hash = h;
  return k;
}

/** Only spaces, then the line's end or a comment after at least one space. */
export function restIsComment(t: string, j: number, eol: number): boolean {
  const from = j;
  while (j < eol && t.charCodeAt(j) === SPACE) j++;
  return j === eol || (t.charCodeAt(j) === HASH && j > from);
}
