// test/run.ts end to end on fixtures: machine-free files run at the same time,
// the rest one at a time after them, one closing summary over both passes, and
// a failed test or (FELIX_TEST_STRICT=1) a skip fails the run. Also which
// files count as machine-free.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { fileKind } from "./file-kind.js";
import { extraModes } from "./modes.js";

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/helpers
const RUN = resolve(here, "../run.js");
const FREE = [join(here, "pass-fixture-a.js"), join(here, "pass-fixture-b.js")];
const SKIPS = join(here, "skip-fixture.js"); // skips (machine-free too)
const BOUND = join(here, "pass-fixture-bound.js"); // starts a process
const TOGETHER = [join(here, "pass-fixture-bound-c.js"), join(here, "pass-fixture-bound-d.js")]; // machine-bound

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

  test("machine-bound files run a few at a time", () => {
    const { code, out } = runRunner(TOGETHER);
    assert.equal(code, 0, out);
    assert.deepEqual(count(out, "pass"), ["2"], out);
  });

  test("FELIX_TEST_MACHINE_CONCURRENCY=1 runs machine-bound files one at a time (the rendezvous then fails)", () => {
    const { code, out } = runRunner(TOGETHER, { FELIX_TEST_MACHINE_CONCURRENCY: "1", PASS_FIXTURE_WAIT_MS: "1500" });
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

describe("dataplane modes (FELIX_TEST_MODES=all)", () => {
  const dist = resolve(here, "..");
  test("e2e files the mode reaches run in nftables mode too, the services suites also in kube-proxy's layout", () => {
    const modes = (f: string) => extraModes(join(dist, f), dist);
    assert.deepEqual(modes("e2e/conformance.test.js"), ["nftables"]);
    assert.deepEqual(modes("e2e/demo.test.js"), ["nftables"]); // a side-effect import of dataplane-mode
    assert.deepEqual(modes("e2e/services-udp.test.js"), ["nftables", "proxy-nftables"]);
    assert.deepEqual(modes("e2e/nftables-mode-switch.test.js"), []); // marked: its agents are given their mode
    assert.deepEqual(modes("e2e/start-probes.test.js"), []); // the mode does not reach it
    assert.deepEqual(modes("golden-kernel.test.js"), []); // not an e2e suite
  });

  test("a mode's wrapper runs the file with the mode's variables, reported with the mode beside the plain run", () => {
    const fixture = join(here, "mode-fixture.js");
    const url = (f: string) => JSON.stringify(pathToFileURL(f).href);
    // The runner's passes over the fixture and its two wrappers, three at a time, as test/run.ts does.
    const script = `
      import { ModeWrappers } from ${url(join(here, "modes.js"))};
      import { runPasses } from ${url(join(here, "passes.js"))};
      const w = new ModeWrappers(${JSON.stringify(dist)});
      const f = ${JSON.stringify(fixture)};
      const files = [f, w.wrap(f, "nftables"), w.wrap(f, "proxy-nftables")];
      console.log("wrappers: " + files.slice(1).join(" "));
      const ok = await runPasses([{ files, concurrency: 3 }], ${JSON.stringify(join(here, "skip-reporter.js"))}, (ev) => w.relabel(ev));
      w.remove();
      process.exit(ok ? 0 : 1);`;
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    for (const k of ["FELIX_TEST_DATAPLANE", "FELIX_TEST_PROXYMODE", "FELIX_TEST_STRICT"]) delete env[k];
    const tmp = mkdtempSync(join(tmpdir(), "felix-modes-"));
    writeFileSync(join(tmp, "run.mjs"), script); // a file: node:test's children get the runner's exec arguments
    const r = spawnSync(process.execPath, [join(tmp, "run.mjs")], { env, encoding: "utf8", timeout: 60_000 });
    rmSync(tmp, { recursive: true, force: true });
    const out = r.stdout + r.stderr;
    assert.equal(r.status, 0, out);
    const u = "\\(unset\\)";
    for (const line of [
      `✔ mode fixture: FELIX_TEST_DATAPLANE=${u} FELIX_TEST_PROXYMODE=${u} \\(`,
      `✔ mode fixture: FELIX_TEST_DATAPLANE=nftables FELIX_TEST_PROXYMODE=${u} \\[nftables\\] \\(`,
      `✔ mode fixture: FELIX_TEST_DATAPLANE=${u} FELIX_TEST_PROXYMODE=nftables \\[proxy-nftables\\] \\(`,
    ]) {
      assert.match(out, new RegExp(`^${line}`, "m"), out);
    }
    assert.match(out, /^ +\d+\.\d s {2}\S*mode-fixture\.js \[proxy-nftables\]$/m, "the slowest files, by mode");
    assert.doesNotMatch(out, /felix-test-mode:/, "the announcements are not reported");
    const wrappers = /^wrappers: (.*)$/m.exec(out)?.[1]?.split(" ") ?? [];
    assert.equal(wrappers.length, 2, out);
    for (const w of wrappers) assert.ok(!existsSync(w), `${w} removed`);
  });

  test("FELIX_TEST_MODES=all refuses a single mode's variables", () => {
    const { code, out } = runRunner(FREE, { FELIX_TEST_MODES: "all", FELIX_TEST_DATAPLANE: "nftables" });
    assert.notEqual(code, 0, out);
    assert.match(out, /FELIX_TEST_MODES=all runs every mode: unset FELIX_TEST_DATAPLANE/);
  });
});
