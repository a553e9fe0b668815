// The manifest reader's two ways in (the thread pool, and `now` on the main
// thread for a pass over a few named files) give the same answers for the
// same files: a regular file's text and signature, a missing one, a FIFO or
// directory refused without blocking, a file over the limit refused.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fsManifestReader, type ManifestReader } from "../../../src/datastore/manifest-reader.js";

const dir = mkdtempSync(join(tmpdir(), "felix-reader-"));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "ok.yaml"), "kind: Namespace\n");
writeFileSync(join(dir, "big.yaml"), "x".repeat(100));
mkdirSync(join(dir, "sub.yaml"));
execFileSync("mkfifo", [join(dir, "fifo.yaml")]);

for (const [how, reader] of [
  ["the thread pool", fsManifestReader],
  ["now (main thread)", fsManifestReader.now as ManifestReader],
] as const) {
  describe(`manifest reader: ${how}`, () => {
    test("a regular file: its text and the signature stat gives", async () => {
      const r = await reader.read(join(dir, "ok.yaml"), 1000);
      assert.equal(r.status, "ok");
      assert.equal(r.status === "ok" && r.text, "kind: Namespace\n");
      assert.deepEqual(r.status === "ok" && r.sig, await reader.sig(join(dir, "ok.yaml")));
    });
    test("missing, over the limit, a FIFO, a directory", async () => {
      assert.deepEqual(await reader.read(join(dir, "gone.yaml"), 1000), { status: "missing" });
      assert.equal(await reader.sig(join(dir, "gone.yaml")), undefined);
      const big = await reader.read(join(dir, "big.yaml"), 10);
      assert.equal(big.status, "refused");
      assert.match(big.status === "refused" ? big.message : "", /over the limit of 10/);
      const fifo = await reader.read(join(dir, "fifo.yaml"), 1000);
      assert.match(fifo.status === "refused" ? fifo.message : "", /not a regular file/);
      assert.equal(await reader.sig(join(dir, "fifo.yaml")), undefined);
      assert.equal((await reader.read(join(dir, "sub.yaml"), 1000)).status, "refused");
    });
  });
}
