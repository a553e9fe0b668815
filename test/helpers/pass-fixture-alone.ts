// Not a test file: test/helpers/passes.test.ts runs it through test/run.ts with
// pass-fixture-bound-c.js and -d.js. test-runner: alone (the mark under test):
// it must run after the machine-bound files that may run together.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { test } from "node:test";

test("fixture pass-fixture-alone: runs after the files that run together", () => {
  execFileSync(process.execPath, ["-e", "0"]);
  const marks = readdirSync(process.env.PASS_FIXTURE_DIR ?? "");
  if (marks.length < 2) throw new Error(`ran beside them: marks ${marks.join(", ")}`);
});
