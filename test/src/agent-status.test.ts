// AgentStatus, the daemon's observer: readiness only once in sync and
// programmed, failures counted and shown, the liveness watchdog on a stuck
// apply (mocked timers and clock), and the endpoint status file kept.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import pino from "pino";
import { computeDesiredState } from "../../calc-graph/calc-graph.js";
import { vethNameForWorkload } from "../../calc-graph/conversion/pod.js";
import { AgentStatus, WATCHDOG_MS } from "../../src/agent-status.js";
import type { ApplyResult } from "../../src/dataplane.js";
import { EndpointStatusTracker } from "../../status/endpoint-status.js";
import { EndpointStatusFile } from "../../status/endpoint-status-file.js";
import { HealthAggregator } from "../../status/health.js";
import { Metrics } from "../../status/metrics.js";
import { namespace, pod } from "../calc-graph/fixtures.js";

const DIR = mkdtempSync(join(tmpdir(), "agent-status-"));
after(() => rmSync(DIR, { recursive: true, force: true }));

const state = computeDesiredState({ nodeName: "node1" }, [
  namespace("prod"),
  pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } }),
]);
const ok: ApplyResult = {
  changes: 7,
  iptablesBytes: 100,
  ipsetBytes: 0,
  restoreMs: 1,
  routes: { added: 1, removed: 0, pending: 0 },
  sysctlsWritten: 0,
  warnings: [],
  ipvsChanges: 0,
};

async function counter(m: Metrics, name: string): Promise<number> {
  const metric = m.registry.getSingleMetric(name);
  return (await metric!.get()).values.reduce((n, v) => n + v.value, 0);
}

function rig(applyingSince: () => number | undefined = () => undefined, now = () => Date.now(), withFile = true) {
  const metrics = new Metrics();
  const health = new HealthAggregator(now);
  const endpoints = new EndpointStatusTracker();
  const file = new EndpointStatusFile(join(DIR, `status-${Math.random().toString(16).slice(2)}.json`));
  const status = new AgentStatus({
    metrics,
    log: pino({ level: "silent" }),
    health,
    endpoints,
    // The file's debounce is an rxjs timer: left out where timers are mocked.
    statusFile: withFile ? file : undefined,
    applyingSince,
  });
  return { metrics, health, endpoints, file, status };
}

test("agent status: ready only once the datastore is in sync and the dataplane programmed", async () => {
  const { metrics, health, status, endpoints } = rig();
  assert.deepEqual([health.live(), health.ready()], [true, false], "live from the start, not ready");
  status.batch(state, 0.001, performance.now());
  assert.equal(health.ready(), false, "in sync but not programmed yet");
  status.applied(state, new Error("iptables-restore failed: line 3"), 0.01);
  assert.equal(health.ready(), false);
  assert.equal(await counter(metrics, "felix_int_dataplane_failures"), 1);
  const dp = health.summary().reporters.find((r) => r.name === "dataplane")!;
  assert.match(dp.detail ?? "", /1 apply\(s\) failed in a row \(retrying\): iptables-restore failed: line 3/);
  assert.equal(endpoints.get("prod/web")?.status, "error");
  status.applied(state, ok, 0.02);
  assert.deepEqual([health.live(), health.ready()], [true, true]);
  assert.equal(await counter(metrics, "felix_int_dataplane_failures"), 1);
  assert.equal(endpoints.get("prod/web")?.status === "error", false);
  status.close();
});

test("agent status: an apply stuck past the watchdog stops the dataplane's heartbeat, so liveness fails", (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  let clock = 1_000_000;
  let since: number | undefined;
  const { health, status } = rig(
    () => since,
    () => clock,
    false,
  );
  status.batch(state, 0.001, performance.now());
  status.applied(state, ok, 0.02);
  // A heartbeat with no apply in progress keeps it live as time passes.
  for (let i = 0; i < 12; i++) {
    clock += 10_000;
    t.mock.timers.tick(10_000);
  }
  assert.equal(health.live(), true);
  // Now an apply that never ends.
  since = performance.now() - WATCHDOG_MS - 1;
  for (let i = 0; i < 10; i++) {
    clock += 10_000;
    t.mock.timers.tick(10_000);
  }
  assert.equal(health.live(), false);
  assert.match(health.summary().reporters.find((r) => r.name === "dataplane")!.problem ?? "", /\S/);
  status.close();
});

test("agent status: the endpoint status file follows the endpoints", async () => {
  const { status, file } = rig();
  status.interfaces(new Set([vethNameForWorkload("prod", "web")]));
  status.batch(state, 0.001, performance.now());
  status.applied(state, ok, 0.02);
  const deadline = Date.now() + 20_000;
  while (file.writes === 0 || !readFileSync(file.path, "utf8").includes("prod/web")) {
    if (Date.now() > deadline) assert.fail("the status file was never written");
    await new Promise((r) => setTimeout(r, 10));
  }
  const written = JSON.parse(readFileSync(file.path, "utf8"));
  assert.deepEqual(Object.keys(written.endpoints), ["prod/web"]);
  status.close();
});
