// Not a test file: test/helpers/passes.test.ts runs it through test/run.ts (as
// pass-fixture-a.js and pass-fixture-b.js). Each of the two files leaves a mark
// in PASS_FIXTURE_DIR and waits for the other's: they pass only when the runner
// runs them at the same time (or fail after PASS_FIXTURE_WAIT_MS). With
// PASS_FIXTURE_FAIL set, a failing test is added.

import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

export function registerFixture(file: string): void {
  const dir = process.env.PASS_FIXTURE_DIR ?? "";
  const me = basename(file);
  test(`fixture ${me}: runs at the same time as the other machine-free fixture`, async () => {
    if (!existsSync(dir)) throw new Error(`PASS_FIXTURE_DIR ${dir} does not exist`);
    writeFileSync(join(dir, me), "");
    const waitMs = Number(process.env.PASS_FIXTURE_WAIT_MS ?? 30_000);
    for (let waited = 0; readdirSync(dir).length < 2; waited += 20) {
      if (waited > waitMs) throw new Error(`the other fixture did not start within ${waitMs} ms: run one at a time`);
      await sleep(20);
    }
  });
  if (process.env.PASS_FIXTURE_FAIL) {
    test(`fixture ${me}: fails`, () => {
      throw new Error("failing on purpose");
    });
  }
}
