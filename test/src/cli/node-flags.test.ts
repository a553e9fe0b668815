import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { shebangNodeFlags } from "../../../src/cli/node-flags.js";

const FELIX = fileURLToPath(new URL("../../../src/cli/felix.js", import.meta.url));
const DOCKERFILE = fileURLToPath(new URL("../../../../Dockerfile", import.meta.url));

describe("shebangNodeFlags", () => {
  it("gives the felix bin's flags: the young generation at 2 × 8 MB", () => {
    const flags = shebangNodeFlags(FELIX);
    assert.deepEqual(flags, ["--max-semi-space-size=8"]);
    const r = spawnSync(process.execPath, [
      ...flags,
      "-e",
      "console.log(require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)",
    ]);
    assert.ok(Number(r.stdout.toString()) <= 16 * 1024 * 1024, r.stdout.toString());
  });

  it("gives none for a plain node shebang, another interpreter or anything that is not a flag", () => {
    const dir = mkdtempSync(join(tmpdir(), "node-flags-"));
    const flagsOf = (first: string) => {
      writeFileSync(join(dir, "x.js"), `${first}\nconsole.log(1);\n`);
      return shebangNodeFlags(join(dir, "x.js"));
    };
    assert.deepEqual(flagsOf("#!/usr/bin/env node"), []);
    assert.deepEqual(flagsOf("#!/usr/bin/env -S python3 --max-semi-space-size=8"), []);
    assert.deepEqual(flagsOf("#!/usr/bin/env -S node --a=1 ; rm -rf /"), []);
    assert.deepEqual(flagsOf("// no shebang"), []);
    assert.deepEqual(flagsOf("#!/usr/bin/env -S node --a=1 --b"), ["--a=1", "--b"]);
  });

  it("is what the image runs: its entrypoint is the bin, so the shebang's flags apply", () => {
    const entry = readFileSync(DOCKERFILE, "utf8").match(/^ENTRYPOINT (.*)$/m)?.[1];
    assert.equal(entry, '["/app/dist/src/cli/felix.js"]');
  });
});
