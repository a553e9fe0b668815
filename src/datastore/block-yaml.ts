// One YAML document of the plain block style generated manifests are written
// in (kubectl, helm, js-yaml's dump), read without js-yaml: about 5× faster,
// and its strings come out internalized, as detach-strings.ts makes js-yaml's.
//
// The subset: block mappings and sequences (compact `- key: v` items, and a
// sequence at its key's indentation, as kubectl writes it), one-line plain,
// single- and double-quoted scalars, `{}`, `[]` and one-line flow sequences of
// such scalars, full-line and trailing comments. Anything else, or anything
// not certain (tabs, `\r`, block scalars, multi-line scalars, `?`/`:`
// explicit keys, duplicate keys, nesting deeper than MAX_DEPTH, control or
// surrogate characters), and the caller reads the document with js-yaml.
// Every value equals what js-yaml's CORE_SCHEMA loadAll makes of the same
// piece: plain scalars are typed by the schema's own implicit types, keys are
// `String(key)`, `__proto__` is an own data property (the differential tests
// in test/src/datastore/block-yaml.test.ts hold it to that).
//
// Iterative over lines with an explicit stack, each character looked at a
// bounded number of times, no regex over content: a hostile file costs
// linear time and no stack.

import { CORE_SCHEMA, type Type } from "js-yaml";
import { internalized } from "../../model/own-string.js";
import type { StringPool } from "./detach-strings.js";

/** The types js-yaml tries on a plain scalar, in its order (null, bool, int, float). */
const IMPLICIT = (CORE_SCHEMA as unknown as { compiledImplicit: Type[] }).compiledImplicit;
/** Collections open at once; js-yaml's own limit (maxDepth 100) stays far away. */
export const MAX_DEPTH = 64;
/**
 * Any character outside printable BMP text and `\n` (so also tab, `\r`, NEL, the
 * Unicode line separators, BOM, surrogates): a text holding one is not read here.
 */
export const UNSAFE_CHAR = /[^\n\x20-\x7E\u00A0-\u2027\u202A-\uD7FF\uE000-\uFEFE\uFF00-\uFFFD]/;

const FAIL: unique symbol = Symbol("fail");
type Read = unknown | typeof FAIL;

const SPACE = 0x20;
const HASH = 0x23;
const COLON = 0x3a;
const DASH = 0x2d;

type Collection = unknown[] | Record<string, unknown>;

/** The kinds of an open collection. */
const MAP = 0;
const SEQ = 1;
/** A sequence at its key's indentation: ends at the next line of that indentation that is not an item. */
const SEQ_AT_KEY = 2;

/**
 * The documents (none or one) js-yaml's loadAll reads from `text[start, end)`, a piece that is a whole
 * document (as yaml-documents.ts splits them: it may open with its `---` line); undefined when the piece
 * is not in the subset.
 */
export function readBlockDocument(text: string, start: number, end: number, pool: StringPool): unknown[] | undefined {
  if (UNSAFE_CHAR.test(text.slice(start, end))) return undefined;
  return new Reader(text, pool).document(start, end);
}

class Reader {
  /** The open collections, innermost last, as parallel arrays (no object per collection). */
  private readonly nodes: Collection[] = [];
  private readonly indents: number[] = [];
  private readonly kinds: number[] = [];
  /** Whether the innermost collection's last entry (key `pendingKey`, or last item) waits for a value on a later line. */
  private pending = false;
  private pendingKey = "";
  /** Where the current line starts. */
  private bol = 0;
  /** Where the last scalar read ended (scratch, to return two values without allocating). */
  private to = 0;

  constructor(
    private readonly text: string,
    private readonly pool: StringPool,
  ) {}

  document(start: number, end: number): unknown[] | undefined {
    const t = this.text;
    let pos = start;
    if (t.startsWith("---", start)) {
      const eol = lineEnd(t, start, end);
      for (let i = start + 3; i < eol; i++) if (t.charCodeAt(i) !== SPACE) return undefined;
      pos = eol + 1;
    }
    let root: Collection | undefined;
    while (pos < end) {
      const eol = lineEnd(t, pos, end);
      let i = pos;
      while (i < eol && t.charCodeAt(i) === SPACE) i++;
      if (i < eol && t.charCodeAt(i) !== HASH) {
        if (i === pos && (t.startsWith("---", i) || t.startsWith("...", i))) return undefined;
        if (this.nodes.length === 0) {
          if (root !== undefined) return undefined;
          root = this.open(i - pos, isDash(t, i, eol) ? SEQ : MAP);
        }
        this.bol = pos;
        if (!this.line(i, i - pos, eol)) return undefined;
      }
      pos = eol + 1;
    }
    if (root !== undefined) return [root];
    // No content: js-yaml reads one null document unless the piece is at most spaces and one line break.
    let spaces = start;
    while (spaces < end && t.charCodeAt(spaces) === SPACE) spaces++;
    const length = end - start + (end > start && t.charCodeAt(end - 1) !== 0x0a ? 1 : 0);
    return spaces - start < length - 1 ? [null] : [];
  }

  /** One content line, its first character at `i`, `indent` columns in. */
  private line(i: number, indent: number, eol: number): boolean {
    const dash = isDash(this.text, i, eol);
    const { nodes, indents, kinds } = this;
    if (this.pending) {
      this.pending = false;
      const top = nodes.length - 1;
      const seq = kinds[top] !== MAP;
      if (indent > indents[top] || (dash && !seq && indent === indents[top])) {
        const child = this.open(indent, !dash ? MAP : indent === indents[top] ? SEQ_AT_KEY : SEQ);
        if (child === undefined) return false;
        const node = nodes[top];
        if (seq) (node as unknown[])[(node as unknown[]).length - 1] = child;
        else setProperty(node as Record<string, unknown>, this.pendingKey, child);
      }
    }
    let n = nodes.length;
    while (n > 0 && (indents[n - 1] > indent || (indents[n - 1] === indent && kinds[n - 1] === SEQ_AT_KEY && !dash))) {
      nodes.pop();
      indents.pop();
      kinds.pop();
      n--;
    }
    if (n === 0 || indents[n - 1] !== indent || (kinds[n - 1] !== MAP) !== dash) return false;
    return this.entries(i, eol);
  }

  /** The entries that start at `i` in the innermost collection: one, or more with `- - x` and `- key: v`. */
  private entries(i: number, eol: number): boolean {
    const t = this.text;
    while (this.kinds[this.kinds.length - 1] !== MAP) {
      const items = this.nodes[this.nodes.length - 1] as unknown[];
      let j = i + 1;
      while (j < eol && t.charCodeAt(j) === SPACE) j++;
      if (j === eol || t.charCodeAt(j) === HASH) {
        items.push(null);
        this.pending = true;
        return true;
      }
      const at = j - this.bol;
      if (isDash(t, j, eol)) {
        const child = this.open(at, SEQ);
        if (child === undefined) return false;
        items.push(child);
        i = j;
        continue;
      }
      let key: string | typeof FAIL;
      const c = t.charCodeAt(j);
      if (c !== 0x22 && c !== 0x27 && plainStart(t, j, eol)) {
        // A plain scalar item, or the first key of a compact mapping: one scan tells.
        const colon = scanPlain(t, j, eol);
        if (colon < 0) {
          items.push(this.plain(j, plainEnd));
          return true;
        }
        key = this.plainKey(j, colon);
      } else {
        key = this.key(j, eol);
      }
      if (key === FAIL) {
        const v = this.value(j, eol);
        if (v === FAIL) return false;
        items.push(v);
        return true;
      }
      const child = this.open(at, MAP);
      if (child === undefined) return false;
      items.push(child);
      return this.pair(key as string, eol);
    }
    const key = this.key(i, eol);
    return key !== FAIL && this.pair(key as string, eol);
  }

  /** The value of `key` (read up to this.to) into the innermost mapping. */
  private pair(key: string, eol: number): boolean {
    const t = this.text;
    const map = this.nodes[this.nodes.length - 1] as Record<string, unknown>;
    // js-yaml throws on a duplicate key: the exact path reports it.
    if (Object.hasOwn(map, key)) return false;
    let j = this.to;
    while (j < eol && t.charCodeAt(j) === SPACE) j++;
    if (j === eol || (t.charCodeAt(j) === HASH && j > this.to)) {
      setProperty(map, key, null);
      this.pending = true;
      this.pendingKey = key;
      return true;
    }
    const v = this.value(j, eol);
    if (v === FAIL) return false;
    setProperty(map, key, v);
    return true;
  }

  /** A new collection at `indent`, made the innermost; undefined past MAX_DEPTH. */
  private open(indent: number, kind: number): Collection | undefined {
    if (this.nodes.length >= MAX_DEPTH) return undefined;
    const node = kind === MAP ? {} : [];
    this.nodes.push(node);
    this.indents.push(indent);
    this.kinds.push(kind);
    return node;
  }

  /**
   * An implicit key at `i` (`key:` then a space or the line's end): the key, with this.to just past
   * its colon; FAIL when the line holds none (the caller may read a scalar there instead).
   */
  private key(i: number, eol: number): string | typeof FAIL {
    const t = this.text;
    const c = t.charCodeAt(i);
    if (c === 0x22 || c === 0x27) {
      const s = c === 0x22 ? this.doubleQuoted(i, eol) : this.singleQuoted(i, eol);
      const k = this.to;
      if (s === FAIL || t.charCodeAt(k) !== COLON || !(k + 1 === eol || t.charCodeAt(k + 1) === SPACE)) return FAIL;
      this.to = k + 1;
      return s;
    }
    if (!plainStart(t, i, eol)) return FAIL;
    const colon = scanPlain(t, i, eol);
    return colon < 0 ? FAIL : this.plainKey(i, colon);
  }

  /** The plain key `text[i, plainEnd)` (as scanPlain left it) as js-yaml names it; this.to past its colon. */
  private plainKey(i: number, colon: number): string {
    this.to = colon + 1;
    const s = this.slice(i, plainEnd, plainHash);
    return mayResolve(this.text.charCodeAt(i), s.length) ? String(resolvePlain(s)) : s;
  }

  /** A value that fills the rest of the line from `i` (a comment may follow). */
  private value(i: number, eol: number): Read {
    const t = this.text;
    const c = t.charCodeAt(i);
    let v: Read;
    if (c === 0x22 || c === 0x27) {
      v = c === 0x22 ? this.doubleQuoted(i, eol) : this.singleQuoted(i, eol);
      if (v !== FAIL) v = this.own(v as string);
    } else if (c === 0x5b || c === 0x7b) {
      v = this.flow(i, eol);
    } else {
      if (!plainStart(t, i, eol) || scanPlain(t, i, eol) >= 0) return FAIL;
      return this.plain(i, plainEnd);
    }
    return v !== FAIL && restIsComment(t, this.to, eol) ? v : FAIL;
  }

  /** `{}`, `[]` (spaces inside allowed) or a one-line flow sequence of scalars; this.to past its end. */
  private flow(i: number, eol: number): Read {
    const t = this.text;
    const close = t.charCodeAt(i) === 0x7b ? 0x7d : 0x5d;
    let j = i + 1;
    while (j < eol && t.charCodeAt(j) === SPACE) j++;
    const items: unknown[] = [];
    if (t.charCodeAt(j) === close && j < eol) {
      this.to = j + 1;
      return close === 0x7d ? {} : items;
    }
    if (close === 0x7d) return FAIL;
    for (;;) {
      const c = t.charCodeAt(j);
      if (j >= eol) return FAIL;
      if (c === 0x22 || c === 0x27) {
        const s = c === 0x22 ? this.doubleQuoted(j, eol) : this.singleQuoted(j, eol);
        if (s === FAIL) return FAIL;
        items.push(this.own(s));
        j = this.to;
      } else {
        const k = flowPlainEnd(t, j, eol);
        if (k === j) return FAIL;
        items.push(this.plain(j, k));
        j = k;
      }
      while (j < eol && t.charCodeAt(j) === SPACE) j++;
      const sep = t.charCodeAt(j);
      if (j < eol && sep === close) {
        this.to = j + 1;
        return items;
      }
      if (j >= eol || sep !== 0x2c) return FAIL;
      j++;
      while (j < eol && t.charCodeAt(j) === SPACE) j++;
    }
  }

  /** A plain scalar `text[i, end)`, typed as js-yaml types it; a string comes out internalized. */
  private plain(i: number, end: number): unknown {
    const s = this.slice(i, end, plainHash);
    return mayResolve(this.text.charCodeAt(i), s.length) ? resolvePlain(s) : s;
  }

  /**
   * `text[i, end)` internalized, `hash` its scanHash: a short one from RECENT when it is there (no
   * slice made, no lookup by content), else through the pool.
   */
  private slice(i: number, end: number, hash: number): string {
    const n = end - i;
    if (n > RECENT_MAX_LENGTH) return this.own(this.text.slice(i, end));
    const slot = (hash ^ (hash >>> RECENT_BITS)) & (RECENT.length - 1);
    const seen = RECENT[slot];
    if (seen.length === n && sameText(seen, this.text, i)) return seen;
    const s = internalized(this.text.slice(i, end));
    RECENT[slot] = s;
    return s;
  }

  /** V8's one copy of `s` (see detach-strings.ts), through the per-text pool. */
  private own(s: string): string {
    let o = this.pool.get(s);
    if (o === undefined) {
      o = internalized(s);
      this.pool.set(o, o);
    }
    return o;
  }

  /** 'text' on one line, '' for a quote; this.to past the closing quote. */
  private singleQuoted(i: number, eol: number): string | typeof FAIL {
    const t = this.text;
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
      this.to = j + 1;
      return out;
    }
    return FAIL;
  }

  /** "text" on one line with js-yaml's escapes; this.to past the closing quote. */
  private doubleQuoted(i: number, eol: number): string | typeof FAIL {
    const t = this.text;
    let out = "";
    let from = i + 1;
    for (let j = from; j < eol; j++) {
      const c = t.charCodeAt(j);
      if (c === 0x22) {
        this.to = j + 1;
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
function resolvePlain(s: string): unknown {
  for (const type of IMPLICIT) if (type.resolve(s)) return type.construct(s);
  return s;
}

/**
 * Whether a plain scalar of `length` starting with `c` could be other than a string: all that do not
 * start with a letter, and the null and bool words (`null`, `True`, `FALSE`…: 4 or 5 letters, the
 * first one of n, t, f in either case). The tests prove the rest are strings.
 */
function mayResolve(c: number, length: number): boolean {
  const l = c | 0x20;
  if (l < 0x61 || l > 0x7a) return true;
  return (length === 4 || length === 5) && (l === 0x6e || l === 0x74 || l === 0x66);
}

function lineEnd(t: string, pos: number, end: number): number {
  const eol = t.indexOf("\n", pos);
  return eol < 0 || eol > end ? end : eol;
}

/** `-` then a space or the line's end: a sequence entry. */
function isDash(t: string, i: number, eol: number): boolean {
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
function plainStart(t: string, i: number, eol: number): boolean {
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

/** Whether `t` holds `s` at `i` (a loop the compiler inlines: faster than startsWith on short strings). */
function sameText(s: string, t: string, i: number): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) !== t.charCodeAt(i + k)) return false;
  return true;
}

/** Where the last scanPlain's scalar ends, trailing spaces excluded, and the hash of its text. */
let plainEnd = 0;
let plainHash = 0;

/**
 * Scans a plain scalar from `i` to the line's end or a ` #` comment: the index of a `: ` (or
 * line-ending `:`) key separator, or -1; plainEnd is set either way.
 */
function scanPlain(t: string, i: number, eol: number): number {
  let last = i;
  let h = 0;
  let lastHash = 0;
  for (let k = i; k < eol; k++) {
    const c = t.charCodeAt(k);
    if (c === COLON && (k + 1 === eol || t.charCodeAt(k + 1) === SPACE)) {
      plainEnd = last;
      plainHash = lastHash;
      return k;
    }
    if (c === HASH && t.charCodeAt(k - 1) === SPACE) break;
    h = (Math.imul(h, 31) + c) | 0;
    if (c !== SPACE) {
      last = k + 1;
      lastHash = h;
    }
  }
  plainEnd = last;
  plainHash = lastHash;
  return -1;
}

/** The end of a plain flow-sequence item from `i`: no spaces, no indicators inside; i when none may start. */
function flowPlainEnd(t: string, i: number, eol: number): number {
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
  plainHash = h;
  return k;
}

/** Only spaces, then the line's end or a comment after at least one space. */
function restIsComment(t: string, j: number, eol: number): boolean {
  const from = j;
  while (j < eol && t.charCodeAt(j) === SPACE) j++;
  return j === eol || (t.charCodeAt(j) === HASH && j > from);
}

/** As js-yaml stores a pair: `__proto__` becomes an own data property, not the prototype. */
function setProperty(o: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(o, key, { configurable: true, enumerable: true, writable: true, value });
  } else {
    o[key] = value;
  }
}
