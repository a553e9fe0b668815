// A manifest file's text → its documents as plain values, each with the line
// it starts on. Four ways, fastest first:
//   - `.json`: JSON.parse (one document);
//   - plain block-style YAML, as kubectl, helm and our bench write it:
//     block-yaml.ts, document by document, its strings internalized as it goes;
//   - plain YAML (no anchors, aliases, tags or directives, as manifests nearly
//     always are) that block-yaml.ts leaves alone: js-yaml's core schema, for
//     that document (about 8× faster than `yaml` on the bench's 19 MB and far
//     less garbage), its strings detached after;
//   - anything else, and every text the fast paths reject: the `yaml` package,
//     the authority for what is valid and for error lines, with its alias limit.
// block-yaml.ts reads exactly what js-yaml reads, or nothing. Both YAML
// parsers use the YAML 1.2 core schema (no timestamps, no `<<` merges), so a
// document reads the same whichever path takes it.

import { createRequire } from "node:module";
import { CORE_SCHEMA, loadAll } from "js-yaml";
import { readBlockDocument } from "./block-yaml.js";
import { detachStrings, type StringPool } from "./detach-strings.js";

/**
 * The `yaml` package (some 70 modules), loaded the first time a text takes the exact path: plain
 * manifests, as felix --once and felix-dump mostly read, never need it.
 */
let exact: typeof import("yaml") | undefined;
const yamlPackage = () => (exact ??= createRequire(import.meta.url)("yaml") as typeof import("yaml"));

export interface ParsedDocument {
  readonly value: unknown;
  readonly line?: number;
}

export type DocumentsResult =
  | { readonly ok: true; readonly docs: ParsedDocument[] }
  | { readonly ok: false; readonly line?: number; readonly message: string };

/** Per alias, at most this many nodes of expansion are accepted (the `yaml` package's limit). */
const MAX_ALIAS_COUNT = 100;
/** An anchor, alias, tag or directive anywhere: the text takes the exact path. */
const NOT_PLAIN = /(^|[\s[{,])[&*!]|^%/m;
/** NOT_PLAIN's characters: a text without any (most) skips its slower scan. */
const MAYBE_NOT_PLAIN = /[&*!%]/;
/** A document marker line; content on the same line belongs to the document. */
const DOC_START = /^---(?=[ \t\r]|$)/gm;

export function parseDocuments(text: string, file: string): DocumentsResult {
  if (file.toLowerCase().endsWith(".json")) {
    try {
      return { ok: true, docs: [{ value: JSON.parse(text), line: 1 }] };
    } catch {
      // Not strict JSON: YAML (JSON's superset) decides, and places the error.
    }
  }
  if (!MAYBE_NOT_PLAIN.test(text) || !NOT_PLAIN.test(text)) {
    const fast = plainYaml(text);
    if (fast) return { ok: true, docs: fast };
  }
  return exactYaml(text, file);
}

/** Where each document's piece of the text starts: 0, then each `---` line after it. */
export function documentStarts(text: string): number[] {
  const starts = [0];
  for (const m of text.matchAll(DOC_START)) if (m.index > 0) starts.push(m.index);
  return starts;
}

/**
 * Document by document, so each knows its line: block-yaml.ts, else js-yaml (alone with `blockReader`
 * false: the reference the tests hold block-yaml.ts to); undefined when js-yaml refuses (the exact path
 * then reports). js-yaml's strings are detached from the text (detach-strings.ts); a plain document has
 * no aliases, so it is a tree. The exact path's rare documents may share nodes through aliases and keep
 * their views.
 */
export function plainYaml(text: string, blockReader = true): ParsedDocument[] | undefined {
  const starts = documentStarts(text);
  const docs: ParsedDocument[] = [];
  let line = 1;
  let pos = 0;
  const pool: StringPool = new Map();
  for (let i = 0; i < starts.length; i++) {
    line += countLines(text, pos, starts[i]);
    pos = starts[i];
    const end = starts[i + 1] ?? text.length;
    const piece = text.slice(starts[i], end);
    const first = line + firstContentLine(piece);
    const fast = blockReader ? readBlockDocument(text, starts[i], end, pool) : undefined;
    if (fast !== undefined) {
      for (const value of fast) docs.push({ value, line: first });
      continue;
    }
    try {
      loadAll(piece, (value) => docs.push({ value: detachStrings(value, pool), line: first }), {
        schema: CORE_SCHEMA,
      });
    } catch {
      return undefined;
    }
  }
  return docs;
}

function exactYaml(text: string, file: string): DocumentsResult {
  const { LineCounter, parseAllDocuments } = yamlPackage();
  const lineCounter = new LineCounter();
  const all = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const list = Array.isArray(all) ? all : [all];
  const what = file.toLowerCase().endsWith(".json") ? "JSON/YAML" : "YAML";
  for (const doc of list) {
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      return {
        ok: false,
        line: lineCounter.linePos(e.pos[0]).line,
        message: `invalid ${what}: ${firstLine(e.message)}`,
      };
    }
  }
  const docs: ParsedDocument[] = [];
  for (const doc of list) {
    const start = doc.contents?.range?.[0] ?? doc.range?.[0];
    const line = start === undefined ? undefined : lineCounter.linePos(start).line;
    try {
      docs.push({ value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }), line });
    } catch (e) {
      // Unresolved or excessive aliases: the file is unusable, like a syntax error.
      return { ok: false, line, message: `invalid ${what}: ${firstLine((e as Error).message)}` };
    }
  }
  return { ok: true, docs };
}

/** Lines before a piece's first content (blank, comment and marker lines), 0-based. */
function firstContentLine(piece: string): number {
  let n = 0;
  let pos = 0;
  while (pos < piece.length) {
    const end = piece.indexOf("\n", pos);
    const l = piece.slice(pos, end < 0 ? piece.length : end).trim();
    if (l !== "" && !l.startsWith("#") && l !== "---") return n;
    if (end < 0) break;
    n++;
    pos = end + 1;
  }
  return 0;
}

function countLines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf("\n", from); i >= 0 && i < to; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

function firstLine(s: string): string {
  return s.split("\n")[0];
}
