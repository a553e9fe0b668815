// Not a test file: test/helpers/passes.test.ts runs it through test/run.ts. It
// starts a process, so the runner takes it for machine-bound (second pass).
// With PASS_FIXTURE_FAIL set, a failing test is added.
import { execFileSync } from "node:child_process";
import { test } from "node:test";

test("fixture pass-fixture-bound: starts a process", () => {
  execFileSync(process.execPath, ["-e", "0"]);
});

if (process.env.PASS_FIXTURE_FAIL) {
  test("fixture pass-fixture-bound: fails", () => {
    throw new Error("failing on purpose");
  });
}
