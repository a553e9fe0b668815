// block-yaml.ts against js-yaml's CORE_SCHEMA loadAll, the reader it stands
// in for: random values dumped by js-yaml and by `yaml` with varied options,
// real manifests mutated byte by byte, the bench's own manifests, hostile
// shapes. Whatever it returns must be what js-yaml returns (the same objects,
// own properties, order, prototypes, -0), and nothing where js-yaml throws.

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import * as jsYaml from "js-yaml";
import { CORE_SCHEMA, dump, loadAll, type Type } from "js-yaml";
import { stringify } from "yaml";
import { ManifestDir } from "../../../bench/manifest-dir.js";
import { SyntheticCluster } from "../../../bench/scale.js";
import { PRESETS } from "../../../bench/scale-spec.js";
import { MAX_DEPTH, readBlockDocument } from "../../../src/datastore/block-yaml.js";
import { documentStarts, plainYaml } from "../../../src/datastore/yaml-documents.js";

/** js-yaml's reading of a piece, or "throws". */
function reference(piece: string): unknown[] | "throws" {
  try {
    return loadAll(piece, undefined, { schema: CORE_SCHEMA }) as unknown[];
  } catch {
    return "throws";
  }
}

/** Same shape, own keys in the same order with the same descriptors, same prototypes, Object.is leaves. */
function assertSame(actual: unknown, expected: unknown, where: string): void {
  const pending: [unknown, unknown, string][] = [[actual, expected, "$"]];
  while (pending.length > 0) {
    const [a, e, path] = pending.pop()!;
    const at = `${where} at ${path}`;
    if (e === null || typeof e !== "object") {
      assert.ok(Object.is(a, e), `${at}: ${String(a)} !== ${String(e)}`);
      continue;
    }
    assert.ok(a !== null && typeof a === "object", `${at}: not an object`);
    assert.equal(Object.getPrototypeOf(a), Object.getPrototypeOf(e), `${at}: prototype`);
    assert.deepEqual(Reflect.ownKeys(a), Reflect.ownKeys(e), `${at}: own keys`);
    for (const k of Reflect.ownKeys(e)) {
      const da: PropertyDescriptor = Object.getOwnPropertyDescriptor(a, k)!;
      const de: PropertyDescriptor = Object.getOwnPropertyDescriptor(e, k)!;
      if (Array.isArray(e) && k === "length") continue;
      assert.deepEqual(
        [da.enumerable, da.writable, da.configurable],
        [de.enumerable, de.writable, de.configurable],
        at,
      );
      pending.push([da.value, de.value, `${path}.${String(k)}`]);
    }
  }
}

/** Each piece of `text` through block-yaml.ts: equal to js-yaml, or left to it. Returns how many it read. */
function checkText(text: string): { read: number; pieces: number } {
  const starts = documentStarts(text);
  let read = 0;
  for (let i = 0; i < starts.length; i++) {
    const end = starts[i + 1] ?? text.length;
    const piece = text.slice(starts[i], end);
    const fast = readBlockDocument(text, starts[i], end, new Map());
    if (fast === undefined) continue;
    read++;
    const ref = reference(piece);
    assert.notEqual(ref, "throws", `block-yaml.ts read what js-yaml refuses:\n${JSON.stringify(piece)}`);
    assertSame(fast, ref, JSON.stringify(piece));
  }
  // The whole text: the same documents at the same lines as js-yaml alone.
  const withReader = plainYaml(text);
  const alone = plainYaml(text, false);
  assert.equal(withReader === undefined, alone === undefined, JSON.stringify(text));
  if (withReader && alone) {
    assert.deepEqual(
      withReader.map((d) => d.line),
      alone.map((d) => d.line),
    );
    assertSame(
      withReader.map((d) => d.value),
      alone.map((d) => d.value),
      JSON.stringify(text),
    );
  }
  return { read, pieces: starts.length };
}

const TRICKY_KEYS = ["__proto__", "constructor", "toString", "1", "01", "true", "null", "~", "a b", "-x", ":", "#"];
const TRICKY_STRINGS = [
  ...["null", "Null", "NULL", "~", "", "true", "True", "FALSE", "yes", "no", "on", "off", "y", "n"],
  ...["0", "-0", "+1", "012", "0o17", "0x1F", "0b101", "1_000", "1e3", "1E-3", "-.5", ".5", "5.", "1.10"],
  ...[".inf", "-.Inf", "+.INF", ".nan", ".NaN", "0.", "-", "- a", "a: b", "a:b", "#x", "a #b", "a#b"],
  ...[" lead", "trail ", "'", '"', "''", "\\", "a\\nb", "é", "日本", "\u00a0x", "x\ty", "multi\nline", "---", "..."],
  ...["[a]", "{a: 1}", "[]", "{}", "&a", "*a", "!x", "%x", "@x", "`x", "|", ">", "? x", ": x", "2001-12-14"],
];

const scalar = fc.oneof(
  fc.constantFrom(...TRICKY_STRINGS),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "grapheme", maxLength: 6 }),
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
);
const key = fc.oneof(fc.constantFrom(...TRICKY_KEYS), fc.string({ minLength: 1, maxLength: 8 }));
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(key, tie("value"), { maxKeys: 5 }),
  ),
}));
/** A document's root: a mapping or a sequence, as manifests have. */
const root = fc.oneof(fc.dictionary(key, value, { minKeys: 1, maxKeys: 6 }), fc.array(value, { minLength: 1 }));

const dumpOptions = fc.record({
  indent: fc.integer({ min: 1, max: 4 }),
  noArrayIndent: fc.boolean(),
  flowLevel: fc.integer({ min: -1, max: 3 }),
  forceQuotes: fc.boolean(),
  quotingType: fc.constantFrom("'" as const, '"' as const),
  lineWidth: fc.constantFrom(20, 80, -1),
  noCompatMode: fc.boolean(),
});
const rendered = fc.oneof(
  fc.tuple(root, dumpOptions).map(([v, o]) => dump(v, o)),
  fc.tuple(root, fc.integer({ min: 2, max: 4 })).map(([v, indent]) => stringify(v, { indent })),
);
/** What may sit between documents: the marker, with spaces, comments and blank lines around it. */
const separator = fc.constantFrom("---\n", "---   \n", "\n---\n# c\n", "---\n\n", "# x\n---\n  # y\n");

describe("readBlockDocument", () => {
  it("reads random values dumped by js-yaml and yaml as js-yaml does, or leaves them to it", () => {
    let read = 0;
    let pieces = 0;
    fc.assert(
      fc.property(fc.array(fc.tuple(rendered, separator), { minLength: 1, maxLength: 3 }), (docs) => {
        const r = checkText(docs.map(([d, s], i) => (i === 0 ? d : s + d)).join(""));
        read += r.read;
        pieces += r.pieces;
      }),
      { numRuns: 600 },
    );
    // Not vacuous (flow mappings, control characters and astral graphemes, which it leaves, are common here).
    assert.ok(read > pieces / 8, `${read} of ${pieces} pieces read`);
  });

  it("reads mutated manifests as js-yaml does, and never one js-yaml refuses", () => {
    // One file of each kind the bench writes: nodes, namespaces, pods, policies, services (with slices).
    const byKind = new Map<string, string>();
    for (const { file, text } of manifests("small")) {
      const kind = /(nodes|pods|policies|services|namespaces)/.exec(file)?.[1];
      if (kind && !byKind.has(kind)) byKind.set(kind, text);
    }
    const base = [...byKind.values()];
    assert.equal(base.length, 5);
    const alphabet = [...":-# '\"{}[]\t\n", "a", "z", "0", "1"];
    const edit = fc.record({
      at: fc.nat(),
      op: fc.constantFrom("insert", "delete", "replace"),
      ch: fc.constantFrom(...alphabet),
    });
    let read = 0;
    fc.assert(
      fc.property(fc.nat({ max: base.length - 1 }), fc.array(edit, { minLength: 1, maxLength: 4 }), (b, edits) => {
        let text = base[b];
        for (const { at, op, ch } of edits) {
          const i = at % (text.length + 1);
          if (op === "insert") text = text.slice(0, i) + ch + text.slice(i);
          else if (op === "delete") text = text.slice(0, i) + text.slice(i + 1);
          else text = text.slice(0, i) + ch + text.slice(i + 1);
        }
        read += checkText(text).read;
      }),
      { numRuns: 1500 },
    );
    assert.ok(read > 0);
  });

  it("reads every document the bench writes for the medium preset (no fallback), as js-yaml does", () => {
    let pieces = 0;
    for (const { text } of manifests("medium")) {
      const r = checkText(text);
      assert.equal(r.read, r.pieces, `fell back on a bench manifest:\n${text.slice(0, 400)}`);
      pieces += r.pieces;
    }
    assert.ok(pieces > 4000);
  });

  it("reads kubectl's layout: sequences at their key's indentation, compact items, comments", () => {
    const text = [
      "# kubectl get -o yaml",
      "apiVersion: v1",
      "items:",
      "- kind: Pod   # trailing",
      "  metadata:",
      "    labels: {}",
      "    ports:",
      "    - 80",
      "    -",
      "    - - nested",
      "      - seq",
      "  spec:",
      "  # a comment at the key's indentation",
      "    x: [a, 'b c', \"d\\te\", 1, ~]",
      "- ''",
      "- 'it''s'",
      'quoted: "\\u00e9\\x41\\U0001F600\\/\\"\\\\"',
      "empty:",
      "__proto__: {}",
      "constructor: x",
      "1: one",
      "0x1F: hex",
      "~: tilde",
      "",
    ].join("\n");
    const fast = readBlockDocument(text, 0, text.length, new Map());
    assert.ok(fast, "read");
    assertSame(fast, reference(text), "kubectl");
    const doc = fast[0] as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(doc), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(doc, "__proto__")?.value, {});
    assert.equal(doc[1], "one");
    assert.equal(doc["31"], "hex");
    assert.equal(doc.null, "tilde");
  });

  it("leaves to js-yaml what it does not handle with certainty", () => {
    const outside = [
      "a: 1\na: 2\n", // duplicate key: js-yaml throws, the exact path reports
      "a:\tb\n",
      "a: b\r\n",
      "\ufeffa: b\n",
      "a: |\n  text\n",
      "a: >-\n  text\n",
      "a: b\n  c\n", // a plain scalar over two lines
      "- a\n  b\n",
      'a: "b\n  c"\n',
      "a: 'b\n  c'\n",
      "? a\n: b\n",
      "a: {b: 1}\n",
      "a: [b, [c]]\n",
      "a: [b,]\n",
      "a: &x 1\n",
      "a: *x\n",
      "a: !!str 1\n",
      "a: b: c\n",
      "a: b:\n",
      "a:\n  text\n",
      "plain scalar\n",
      "--- a: 1\n",
      "a: 1\n...\n",
      'a: "\\q"\n',
      'a: "x" y\n',
      '"a" : 1\n',
      "a: 'x'#c\n",
      "a: \ud83d\ude00\n",
      "a: x\u0085y\n",
      "  a: 1\nb: 2\n",
      "a:\n    b: 1\n  c: 2\n",
    ];
    for (const text of outside) {
      assert.equal(readBlockDocument(text, 0, text.length, new Map()), undefined, JSON.stringify(text));
      checkText(text);
    }
  });

  it("reads an empty document as js-yaml does: none, or one null", () => {
    for (const text of ["", "\n", "  \n", "   ", "# c\n", "---\n", "---", "  \n\n", "\n\n", "---\n# only\n"]) {
      const fast = readBlockDocument(text, 0, text.length, new Map());
      assert.deepEqual(fast, reference(text), JSON.stringify(text));
    }
  });

  it("falls back on nesting deeper than MAX_DEPTH, without recursion", () => {
    const at = (n: number) =>
      Array.from({ length: n }, (_, i) => `${" ".repeat(i)}k:`)
        .join("\n")
        .concat(" v\n");
    const within = at(MAX_DEPTH);
    assertSame(readBlockDocument(within, 0, within.length, new Map()), reference(within), "depth");
    const deep = at(20_000);
    assert.equal(readBlockDocument(deep, 0, deep.length, new Map()), undefined);
    const dashes = `${"- ".repeat(100_000)}x\n`;
    assert.equal(readBlockDocument(dashes, 0, dashes.length, new Map()), undefined);
  });

  it("reads long lines in one pass", () => {
    const long = "x".repeat(2_000_000);
    const text = `${long}: ${long}\nb: '${long}'\nc: [${"a, ".repeat(100_000)}z]\n`;
    const fast = readBlockDocument(text, 0, text.length, new Map()) as [Record<string, unknown>];
    assert.equal(fast[0][long], long);
    assert.equal((fast[0].c as unknown[]).length, 100_001);
    const colons = `a: ${"b: ".repeat(500_000)}\n`;
    assert.equal(readBlockDocument(colons, 0, colons.length, new Map()), undefined);
  });

  it("types a plain scalar that starts with a letter as a string unless it is a null or bool word", () => {
    // The claim mayResolve rests on, proved against the schema js-yaml loads with.
    const implicit = (CORE_SCHEMA as unknown as { compiledImplicit: Type[] }).compiledImplicit;
    const { types } = jsYaml as unknown as { types: Record<string, Type> };
    assert.deepEqual(implicit, [types.null, types.bool, types.int, types.float]);
    const words = new Set(["null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"]);
    for (const w of words) assert.match(w, /^[nNtTfF][a-zA-Z]{3,4}$/);
    fc.assert(
      fc.property(
        fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        fc.string(),
        (c, rest) => {
          const s = c + rest;
          if (!words.has(s)) assert.ok(!implicit.some((t) => t.resolve(s)), s);
        },
      ),
      { numRuns: 5000 },
    );
    for (const w of ["nul", "nulls", "tru", "Truex", "f", "fals", "NuLL", "tRUE"]) {
      assert.ok(!implicit.some((t) => t.resolve(w)), w);
    }
  });
});

/** The manifest files the bench writes for a preset (path relative to its directory, text). */
function manifests(preset: "small" | "medium"): { file: string; text: string }[] {
  const dir = mkdtempSync(join(tmpdir(), "block-yaml-"));
  try {
    new ManifestDir(dir, new SyntheticCluster(PRESETS[preset], 1).updates);
    const files: { file: string; text: string }[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d).sort()) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else files.push({ file: p.slice(dir.length + 1), text: readFileSync(p, "utf8") });
      }
    };
    walk(dir);
    return files;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
