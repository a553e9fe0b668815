import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { parseDocuments } from "../../../src/datastore/yaml-documents.js";

/** What the `yaml` package (the exact path) makes of a text. */
const exact = (text: string) => parseAllDocuments(text).map((d) => (Array.isArray(d) ? d : d.toJS()));

// Scalars where YAML 1.1 and 1.2 or the two libraries could differ.
const SAMPLES = [
  "a: 0o14\nb: 012\nc: 0x1F\nd: 1e3\ne: .inf\nf: -.Inf\ng: .nan\nh: ~\ni: null\nj: Null\n",
  "yes: yes\nno: no\non: on\nt: true\nf: False\nd: 2024-01-01\nts: 2001-12-14t21:59:43.10-05:00\n",
  "s: '1'\nq: \"a\\tb\\u00e9\"\nlit: |\n  line1\n  line2\nfold: >-\n  a\n  b\n",
  "list: [a, 'b', {c: d}]\nempty: {}\nnested:\n  - x: 1\n    y: [1, 2]\n  -  - deep\n",
  "---\nkind: Pod\n---\n# only a comment\n---\n--- {a: 1}\n...\n",
  "k: v # comment\n'quoted key': 1\n? complex\n: value\n",
  "port: 8080\nname: 8080abc\nver: 1.10\nbig: 12345678901234567890\n",
];

describe("parseDocuments", () => {
  it("reads plain YAML exactly as the yaml package does (core schema)", () => {
    for (const text of SAMPLES) {
      const r = parseDocuments(text, "s.yaml");
      assert.ok(r.ok, text);
      assert.deepEqual(
        r.docs.map((d) => d.value),
        exact(text),
        text,
      );
    }
  });

  it("gives each document the line of its first content", () => {
    const r = parseDocuments("# head\na: 1\n---\n\nb: 2\n--- {c: 3}\n", "s.yaml");
    assert.ok(r.ok);
    assert.deepEqual(
      r.docs.map((d) => d.line),
      [2, 5, 6],
    );
  });

  it("takes the exact path for anchors and aliases, with its alias limit", () => {
    const r = parseDocuments("a: &x {k: v}\nb: *x\n", "s.yaml");
    assert.ok(r.ok);
    assert.deepEqual(r.docs[0].value, { a: { k: "v" }, b: { k: "v" } });
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (const [i, c] of ["b", "c", "d", "e", "f"].entries()) {
      const prev = "abcde"[i];
      bomb.push(`${c}: &${c} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    const b = parseDocuments(bomb.join("\n"), "bomb.yaml");
    assert.equal(b.ok, false);
  });

  it("reads .json with JSON.parse and reports invalid JSON at its line", () => {
    const r = parseDocuments('{"kind": "Pod", "n": 1.5}', "p.json");
    assert.ok(r.ok);
    assert.deepEqual(r.docs, [{ value: { kind: "Pod", n: 1.5 }, line: 1 }]);
    const bad = parseDocuments('{\n  "a": 1,\n  "b": {"c": 1,, "d": 2}\n}\n', "p.json");
    assert.equal(bad.ok, false);
    assert.equal(!bad.ok && bad.line, 3);
  });

  it("an error found by the fast path is reported by the exact one, at the exact line", () => {
    const r = parseDocuments("a: 1\n---\nb: [1,\n", "s.yaml");
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : "", /^invalid YAML: /);
  });
});
