import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { detachStrings } from "../../../src/datastore/detach-strings.js";
import { parseDocuments } from "../../../src/datastore/yaml-documents.js";
import { fullGc } from "../../helpers/live-heap.js";

/** Parses `docs` documents of 20 KB each (the text dies with this frame) and keeps their names. */
function parsedNames(docs: number): string[] {
  const filler = `filler: "${"x".repeat(20_000)}"\n`;
  const text = Array.from({ length: docs }, (_, i) => `---\nname: pod-name-number-${i}\n${filler}`).join("");
  const r = parseDocuments(text, "big.yaml");
  assert.ok(r.ok);
  /x/.test("x"); // RegExp's last match keeps its subject (a document) alive
  return r.docs.map((d) => (d.value as { name: string }).name);
}

describe("detachStrings", () => {
  it("keeps every value as it was, and an own __proto__ key as data", () => {
    const long = "a-label-value-long-enough";
    const value = JSON.parse(
      `{"metadata":{"name":"${long}","labels":{"k":"v","${long}":"${long}"}},` +
        `"list":["${long}",1,null,true,{"x":"${long}"},[["${long}"]]],"n":-0.5,"__proto__":"${long}x"}`,
    );
    const copy = structuredClone(value);
    assert.equal(detachStrings(value), value);
    assert.deepEqual(value, copy);
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(value, "__proto__")?.value, `${long}x`);
  });

  it("walks a deeply nested value without recursion", () => {
    let deep: unknown = "the-innermost-string-value";
    for (let i = 0; i < 100_000; i++) deep = [deep];
    detachStrings(deep);
  });

  it("lets a parsed document's text go once only its short values are kept", () => {
    // Each document: a 20 KB field dropped after parsing, and a name kept. A
    // name that were a view of its text would keep all 20 KB of it alive.
    const docs = 400;
    fullGc();
    const before = process.memoryUsage().heapUsed;
    const names = parsedNames(docs);
    fullGc();
    const kept = process.memoryUsage().heapUsed - before;
    assert.equal(names.length, docs);
    assert.equal(names[7], "pod-name-number-7");
    // 8 MB of text; the names themselves are ~40 KB.
    assert.ok(kept < 2_000_000, `kept ${kept} bytes after the text was dropped`);
  });

  it("holds a short value repeated across documents and files once", () => {
    // 40,000 occurrences of one 10-character value in two files: with a copy
    // each, 2.1 MB stayed; shared, 0.7 MB (the kept list and its slots).
    const text = `items:\n${"- node-12345\n".repeat(20_000)}`;
    fullGc();
    const before = process.memoryUsage().heapUsed;
    const kept = ["a.yaml", "b.yaml"].flatMap((f) => {
      const r = parseDocuments(text, f);
      assert.ok(r.ok);
      return (r.docs[0].value as { items: string[] }).items;
    });
    fullGc();
    const bytes = process.memoryUsage().heapUsed - before;
    assert.equal(kept.length, 40_000);
    assert.ok(kept.every((s) => s === "node-12345"));
    assert.ok(bytes < 1_200_000, `kept ${bytes} bytes for 40,000 equal strings`);
  });
});
