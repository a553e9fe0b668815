// iptables/exec.ts: stdin given as parts is streamed in chunks and arrives
// whole; a program that exits without reading it never hangs the caller; the
// offending line of a parted input is found across part boundaries.

import assert from "node:assert/strict";
import { test } from "node:test";
import { lineOfParts, run } from "../../iptables/exec.js";

/** ~6 MB in 200k parts: many chunks, far over a pipe's 64 KiB. */
function manyParts(): string[] {
  const parts: string[] = [];
  for (let i = 0; i < 100_000; i++) parts.push(`-A cali-x -m comment --comment "rule ${i}" -j ACCEPT`, "\n");
  return parts;
}

test("run: parts reach the program's stdin whole and in order", async () => {
  const parts = manyParts();
  const r = await run("cat", [], parts);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, parts.join(""));
});

test("run: a program that exits without reading its parted stdin does not hang the caller", async () => {
  const r = await run("sh", ["-c", "exit 3"], manyParts());
  assert.equal(r.code, 3);
  const half = await run("head", ["-c", "100000"], manyParts());
  assert.equal(half.stdout.length, 100_000);
});

test("lineOfParts: a line split over parts, the first, the last, and past the end", () => {
  const parts = ["*filter\n:cali-a - [0:0]\n-A cali-a ", "-m comment", ' --comment "x" -j ACCEPT', "\n", "COMMIT\n"];
  assert.equal(lineOfParts(parts, 1), "*filter");
  assert.equal(lineOfParts(parts, 3), '-A cali-a -m comment --comment "x" -j ACCEPT');
  assert.equal(lineOfParts(parts, 4), "COMMIT");
  assert.equal(lineOfParts(parts, 5), undefined);
  assert.equal(lineOfParts(["a\nb"], 2), "b");
});
