// test/run.ts end to end on fixtures: machine-free files run at the same time,
// the rest one at a time after them, one closing summary over both passes, and
// a failed test or (FELIX_TEST_STRICT=1) a skip fails the run. Also which
// files count as machine-free.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { fileKind } from "./file-kind.js";

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/helpers
const RUN = resolve(here, "../run.js");
const FREE = [join(here, "pass-fixture-a.js"), join(here, "pass-fixture-b.js")];
const SKIPS = join(here, "skip-fixture.js"); // skips (machine-free too)
const BOUND = join(here, "pass-fixture-bound.js"); // starts a process

function runRunner(files: readonly string[], env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "felix-passes-"));
  try {
    const clean = { ...process.env };
    delete clean.FELIX_TEST_STRICT;
    delete clean.NODE_TEST_CONTEXT; // else the inner runner reports to ours instead of running on its own
    const r = spawnSync(process.execPath, [RUN, ...files], {
      env: { ...clean, PASS_FIXTURE_DIR: dir, ...env },
      encoding: "utf8",
      timeout: 120_000,
    });
    return { code: r.status, out: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const count = (out: string, what: string) => [...out.matchAll(new RegExp(`^ℹ ${what} (\\d+)$`, "gm"))].map((m) => m[1]);

describe("test/run.ts", () => {
  test("machine-free files run at the same time; the closing summary counts every pass once", () => {
    const { code, out } = runRunner([BOUND, ...FREE, SKIPS]);
    assert.equal(code, 0, out);
    // The two rendezvous tests, skip-fixture's 4 tests (1 runs) and the bound one.
    assert.deepEqual(count(out, "tests"), ["7"], out);
    assert.deepEqual(count(out, "pass"), ["4"], out);
    assert.deepEqual(count(out, "skipped"), ["3"], out);
    assert.deepEqual(count(out, "fail"), ["0"], out);
    assert.match(out, /skip summary: 4 skipped/);
    // Where the time went, by the file that registers the tests (pass-fixture.js for a and b).
    const slowest = out.slice(out.indexOf("slowest test files"));
    for (const f of ["pass-fixture.js", "pass-fixture-bound.js", "skip-fixture.js"]) {
      assert.match(slowest, new RegExp(`^ +\\d+\\.\\d s  \\S*${f.replace(".", "\\.")}$`, "m"), f);
    }
    // The machine-bound file runs in the second pass, after the others, though named first.
    assert.ok(out.indexOf("pass-fixture-bound: starts a process") > out.indexOf("a test that runs"), out);
  });

  test("FELIX_TEST_CONCURRENCY=1 runs them one at a time (the rendezvous then fails)", () => {
    const { code, out } = runRunner(FREE, { FELIX_TEST_CONCURRENCY: "1", PASS_FIXTURE_WAIT_MS: "1500" });
    assert.equal(code, 1, out);
    assert.match(out, /did not start within 1500 ms: run one at a time/);
  });

  test("a failed test fails the run, in either pass", () => {
    const { code, out } = runRunner([...FREE, BOUND], { PASS_FIXTURE_FAIL: "1" });
    assert.equal(code, 1, out);
    assert.deepEqual(count(out, "fail"), ["3"], out);
    assert.match(out, /failing on purpose/);
  });

  test("FELIX_TEST_STRICT=1: a skip fails the run", () => {
    const { code, out } = runRunner([SKIPS], { FELIX_TEST_STRICT: "1" });
    assert.equal(code, 1, out);
    assert.match(out, /FELIX_TEST_STRICT=1: 3 tests or suites did not run fully: the run fails/);
  });
});

describe("machine-free test files", () => {
  const dist = resolve(here, "..");
  test("e2e, network-namespace, socket and unmarked process-using files are not, through their test helpers too", () => {
    for (const f of [
      "e2e/conformance.test.js", // test/e2e
      "golden-kernel.test.js", // network namespaces
      "helpers/skip.test.js", // child_process
      "helpers/passes.test.js", // child_process (this file)
      "status/health.test.js", // HTTP requests to its servers
      "src/datastore/kubernetes.test.js", // through helpers/fake-apiserver.js (node:http)
      "hostile/fuzz.test.js", // ip netns exec, unmarked processes
      "iptables/restore-stream-kernel.test.js", // a node child in a network namespace
    ]) {
      assert.equal(fileKind(join(dist, f), dist), "machine", f);
    }
  });

  test("files whose processes need no kernel say so, and then are (helpers' processes included)", () => {
    // trace-matrix.js (a helper) starts felix-dump; the file carries the mark.
    assert.equal(fileKind(join(dist, "trace/conformance-trace.test.js"), dist), "processes");
    assert.equal(fileKind(join(dist, "src/cli/felix-dump.test.js"), dist), "processes");
  });

  test("pure unit files are", () => {
    for (const f of ["model/chain-render.test.js", "iptables/detect.test.js", "calc-graph/calc-graph.test.js"]) {
      assert.equal(fileKind(join(dist, f), dist), "pure", f);
    }
  });
});
