// A program's input spooled to a private unlinked file (iptables/spool.ts):
// the program reads it whole without us, after the holds; nothing is left on disk.

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runSpooled, spoolToFile } from "../../iptables/spool.js";

describe("spool", () => {
  test("the program reads the parts whole, after the holds, while our thread is busy; no file is left", async () => {
    const dir = mkdtempSync(join(tmpdir(), "spool-test-"));
    try {
      const parts = Array.from({ length: 40_000 }, (_, i) => `-A cali-x -m comment --comment "cali:${i}" -j RETURN\n`);
      let open = () => {};
      const gate = new Promise<void>((r) => (open = r));
      let started = false;
      const run = runSpooled(
        "sh",
        ["-c", "cat > /dev/null; sleep 0.3; wc -c"],
        parts,
        { indexes: new Set([0]), until: gate },
        {
          dir,
          onStarted: () => (started = true),
        },
      );
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(started, false, "not before the hold");
      open();
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(started, true);
      // A busy main thread for longer than the program needs: a piped input would wait for it.
      const until = Date.now() + 400;
      while (Date.now() < until) {}
      const r = await run;
      assert.equal(r?.code, 0);
      assert.equal(Number(r?.stdout.trim()), 0, "stdin was read to its end");
      assert.deepEqual(readdirSync(dir), [], "nothing left behind");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the spooled text is the parts joined, read from its start", () => {
    const dir = mkdtempSync(join(tmpdir(), "spool-test-"));
    try {
      const parts = ["*nat\n", "x".repeat(3 << 20), "\n", "COMMIT\n"];
      const fd = spoolToFile(parts, dir);
      assert.equal(readFileSync(fd, "utf8"), parts.join(""));
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("parts of many-byte characters across the write buffer's ends come out as their UTF-8, whole", () => {
    const dir = mkdtempSync(join(tmpdir(), "spool-test-"));
    try {
      // ~2.6 MB in parts of 1 to 3 bytes per character (and a 4-byte one as a pair): the 1 MB
      // buffer fills at every kind of boundary; one part of 400k characters may not fit at 3 bytes each.
      const parts = Array.from(
        { length: 60_000 },
        (_, i) => `-A cali-é${i} -m comment --comment "€ ${"x".repeat(i % 23)} 😀"\n`,
      );
      parts.splice(30_000, 0, "ü".repeat(400_000));
      const fd = spoolToFile(parts, dir);
      assert.ok(readFileSync(fd).equals(Buffer.from(parts.join(""))));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("no writable directory: undefined (the caller pipes the input instead)", async () => {
    const r = await runSpooled("cat", [], ["x"], undefined, { dir: "/nonexistent/felix" });
    assert.equal(r, undefined);
  });
});
