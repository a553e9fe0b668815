// Not a test file: test/helpers/skip.test.ts runs it with `node --test` to see
// how skips are counted, summarised and (FELIX_TEST_STRICT=1) failed.
// SKIP_FIXTURE=raw registers only the skip that bypasses the helper.

import { describe, test } from "node:test";
import { skipIf, skipNow } from "./skip.js";

if (process.env.SKIP_FIXTURE !== "raw") {
  describe("fixture: a suite that needs a tool", skipIf("needs a-missing-tool"), () => {
    test("never registered", () => {});
  });

  test("fixture: a test that needs root", skipIf("needs root"), () => {});

  test("fixture: a test that finds out while running", (t) => {
    skipNow(t, "this kernel lacks a feature");
  });

  test("fixture: a test that runs", skipIf(undefined), () => {});
}

// Bypasses the helper: the reporter still counts it and, strict, fails the run.
test("fixture: a skip that bypasses the helper", { skip: "skipped by hand" }, () => {});
