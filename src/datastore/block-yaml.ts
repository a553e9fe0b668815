// One YAML document of the plain block style generated manifests are written
// in (kubectl, helm, js-yaml's dump), read without js-yaml: about half the
// CPU of js-yaml + detachStrings on the bench's large preset cold, and its
// strings come out internalized, as detach-strings.ts makes js-yaml's.
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
// bounded number of times, no backtracking regex: a hostile file costs
// linear time and no stack.

import {
  COLON,
  doubleQuoted,
  FAIL,
  flowPlainEnd,
  HASH,
  isDash,
  lineEnd,
  mayResolve,
  plainStart,
  recentString,
  resolvePlain,
  restIsComment,
  SPACE,
  scan,
  scanPlain,
  singleQuoted,
} from "./block-yaml-scalars.js";
import { pooled, type StringPool } from "./detach-strings.js";

/** Collections open at once; js-yaml's own limit (maxDepth 100) stays far away. */
export const MAX_DEPTH = 64;
/**
 * Any character outside printable BMP text and `\n` (so also tab, `\r`, NEL, the
 * Unicode line separators, BOM, surrogates): a text holding one is not read here.
 */
const UNSAFE_CHAR = /[^\n\x20-\x7E\u00A0-\u2027\u202A-\uD7FF\uE000-\uFEFE\uFF00-\uFFFD]/;

type Read = unknown | typeof FAIL;

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
          items.push(this.plain(j, scan.end));
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
      const s = c === 0x22 ? doubleQuoted(t, i, eol) : singleQuoted(t, i, eol);
      const k = scan.end;
      if (s === FAIL || t.charCodeAt(k) !== COLON || !(k + 1 === eol || t.charCodeAt(k + 1) === SPACE)) return FAIL;
      this.to = k + 1;
      return s;
    }
    if (!plainStart(t, i, eol)) return FAIL;
    const colon = scanPlain(t, i, eol);
    return colon < 0 ? FAIL : this.plainKey(i, colon);
  }

  /** The plain key `text[i, scan.end)` (as scanPlain left it) as js-yaml names it; this.to past its colon. */
  private plainKey(i: number, colon: number): string {
    this.to = colon + 1;
    const s = this.slice(i, scan.end, scan.hash);
    return mayResolve(this.text.charCodeAt(i), s.length) ? String(resolvePlain(s)) : s;
  }

  /** A value that fills the rest of the line from `i` (a comment may follow). */
  private value(i: number, eol: number): Read {
    const t = this.text;
    const c = t.charCodeAt(i);
    let v: Read;
    if (c === 0x22 || c === 0x27) {
      v = c === 0x22 ? doubleQuoted(t, i, eol) : singleQuoted(t, i, eol);
      if (v !== FAIL) v = pooled(this.pool, v as string);
      this.to = scan.end;
    } else if (c === 0x5b || c === 0x7b) {
      v = this.flow(i, eol);
    } else {
      if (!plainStart(t, i, eol) || scanPlain(t, i, eol) >= 0) return FAIL;
      return this.plain(i, scan.end);
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
        const s = c === 0x22 ? doubleQuoted(t, j, eol) : singleQuoted(t, j, eol);
        if (s === FAIL) return FAIL;
        items.push(pooled(this.pool, s));
        j = scan.end;
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
    const s = this.slice(i, end, scan.hash);
    return mayResolve(this.text.charCodeAt(i), s.length) ? resolvePlain(s) : s;
  }

  /**
   * `text[i, end)` internalized, `hash` as the scan left it: a short one from RECENT when it is there (no
   * slice made, no lookup by content), else through the pool.
   */
  private slice(i: number, end: number, hash: number): string {
    return recentString(this.text, i, end, hash) ?? pooled(this.pool, this.text.slice(i, end));
  }
}

/** As js-yaml stores a pair: `__proto__` becomes an own data property, not the prototype. */
function setProperty(o: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(o, key, { configurable: true, enumerable: true, writable: true, value });
  } else {
    o[key] = value;
  }
}
