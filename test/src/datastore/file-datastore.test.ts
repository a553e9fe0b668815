import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { FileDatastore } from "../../../src/datastore/file-datastore.js";
import type { ResourceUpdate } from "../../../src/model/resource.js";

const ns = (name: string, team = "a") =>
  `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}, labels: {team: ${team}}}\n`;

async function until(pred: () => boolean, what: string, ms = 3000) {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("FileDatastore", () => {
  test("the first batch is the directory; later batches hold only what changed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "felix-fds-"));
    const batches: ResourceUpdate[][] = [];
    const sub = new FileDatastore({ dir, watch: true, debounceMs: 10 }).updates().subscribe((b) => {
      batches.push(b);
      // A change made the moment the in-sync batch arrives must not be missed.
      if (batches.length === 1) writeFileSync(join(dir, "b.yaml"), ns("b"));
    });
    try {
      writeFileSync(join(dir, "a.yaml"), ns("a"));
      await until(() => batches.some((b) => b.some((u) => u.name === "b")), "the file written right after sync");
      writeFileSync(join(dir, "a.yaml"), ns("a", "z"));
      await until(() => batches.at(-1)?.some((u) => u.name === "a") ?? false, "a modified");
      assert.deepEqual(
        batches.at(-1)?.map((u) => u.name),
        ["a"],
      );
      writeFileSync(join(dir, "a.yaml"), "kind: Namespace\nmetadata: {name: [broken\n");
      rmSync(join(dir, "b.yaml"));
      await until(() => batches.at(-1)?.some((u) => u.name === "b" && u.value === null) ?? false, "b deleted");
      assert.ok(!batches.at(-1)?.some((u) => u.name === "a"), "a broken file keeps what it held");
    } finally {
      sub.unsubscribe();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
