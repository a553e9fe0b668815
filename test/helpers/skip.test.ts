// The skip policy end to end: a fixture file with a skipped suite, a skipped
// test and a test that skips while running, run by node's test runner with the
// skip reporter, as `npm test` runs the suite; and which files `npm test` runs.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { testFiles } from "../run.js";

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/helpers
const root = resolve(here, "../../..");

function runFixture(strict: boolean, rawOnly = false) {
  const env = { ...process.env };
  delete env.FELIX_TEST_STRICT;
  delete env.NODE_TEST_CONTEXT; // else the inner runner reports to ours instead of running on its own
  if (strict) env.FELIX_TEST_STRICT = "1";
  if (rawOnly) env.SKIP_FIXTURE = "raw";
  const r = spawnSync(
    process.execPath,
    [
      "--test",
      "--test-reporter=spec",
      "--test-reporter-destination=stdout",
      `--test-reporter=${join(here, "skip-reporter.js")}`,
      "--test-reporter-destination=stdout",
      join(here, "skip-fixture.js"),
    ],
    { env, encoding: "utf8", timeout: 60_000 },
  );
  return { code: r.status, out: r.stdout + r.stderr };
}

describe("skips", () => {
  test("without FELIX_TEST_STRICT: the run passes and the summary lists every skip, whole suites included", () => {
    const { code, out } = runFixture(false);
    assert.equal(code, 0, out);
    assert.match(out, /skip summary: 4 skipped \(3 tests, 1 whole suite whose tests were not registered\), 0 todo/);
    assert.match(
      out,
      /skipped 1 × needs a-missing-tool\n\s+\S*skip-fixture\.js: suite "fixture: a suite that needs a tool"/,
    );
    assert.match(out, /skipped 1 × needs root\n\s+\S*skip-fixture\.js: fixture: a test that needs root/);
    assert.match(out, /skipped 1 × this kernel lacks a feature\n/);
    assert.match(out, /skipped 1 × skipped by hand\n/);
    assert.doesNotMatch(out, /FELIX_TEST_STRICT/);
    assert.match(out, /✔ fixture: a test that runs/);
  });

  test("with FELIX_TEST_STRICT=1: the run fails and names every skip", () => {
    const { code, out } = runFixture(true);
    assert.equal(code, 1, out);
    // The file's own failure lists the skips decided at registration…
    assert.match(
      out,
      /FELIX_TEST_STRICT=1 forbids skips; skipped here:\n\s+1 × needs a-missing-tool\n\s+1 × needs root/,
    );
    // …the test that found out while running fails instead of skipping…
    assert.match(out, /✖ fixture: a test that finds out while running/);
    assert.match(out, /this test would skip: this kernel lacks a feature/);
    // …and the summary, which also counts the skip that bypassed the helper, says the run fails.
    assert.match(out, /skipped 1 × skipped by hand\n/);
    assert.match(out, /FELIX_TEST_STRICT=1: 3 tests or suites did not run fully: the run fails/);
  });

  test("with FELIX_TEST_STRICT=1, a skip that bypasses the helper alone still fails the run", () => {
    const { code, out } = runFixture(true, true);
    assert.equal(code, 1, out);
    assert.doesNotMatch(out, /✖/, "no test failed: the reporter alone failed the run");
    assert.match(out, /FELIX_TEST_STRICT=1: 1 tests or suites did not run fully: the run fails/);
  });
});

describe("npm test's file list", () => {
  test("only the compiled *.test.ts sources: no fixtures, helpers or netns children", () => {
    const files = testFiles(join(root, "test")).map((f) => relative(root, f));
    for (const f of files) assert.match(f, /^dist\/test\/.+\.test\.js$/);
    for (const notATest of [
      "dist/test/helpers/fake-apiserver.js",
      "dist/test/helpers/skip-fixture.js",
      "dist/test/routes/netns-child.js",
      "dist/test/calc-graph/fixtures.js",
      "dist/test/golden-cases.js",
    ]) {
      assert.ok(existsSync(join(root, notATest)), `${notATest} exists (else this check proves nothing)`);
      assert.ok(!files.includes(notATest), notATest);
    }
    assert.ok(files.includes("dist/test/helpers/skip.test.js"));
    assert.ok(files.includes("dist/test/golden.test.js"));
  });
});
