// Status tells the truth: a dataplane whose applies keep failing is not ready,
// and /readiness says why.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pino from "pino";
import { emptyState } from "../../calc-graph/state-builder.js";
import { AgentStatus, FAILED_APPLIES_NOT_READY } from "../../src/agent-status.js";
import type { ApplyResult } from "../../src/dataplane.js";
import { EndpointStatusTracker } from "../../status/endpoint-status.js";
import { HealthAggregator, probeBody } from "../../status/health.js";
import { Metrics } from "../../status/metrics.js";

const ok: ApplyResult = {
  changes: 3,
  iptablesBytes: 10,
  ipsetBytes: 0,
  restoreMs: 1,
  routes: { added: 0, removed: 0, pending: 0 },
  sysctlsWritten: 0,
  warnings: [],
};

function agent() {
  const health = new HealthAggregator();
  const status = new AgentStatus({
    metrics: new Metrics(),
    log: pino({ level: "silent" }),
    health,
    endpoints: new EndpointStatusTracker(),
    applyingSince: () => undefined,
  });
  const state = emptyState("node1");
  status.batch(state, 0, performance.now());
  return { health, status, state };
}

describe("readiness follows repeated apply failures", () => {
  it(`turns red after ${FAILED_APPLIES_NOT_READY} failed applies in a row, with the reason, and green on success`, () => {
    const { health, status, state } = agent();
    try {
      status.applied(state, ok, 0.01);
      assert.equal(health.ready(), true);
      const err = new Error("iptables-restore: line 7 failed");
      for (let i = 1; i < FAILED_APPLIES_NOT_READY; i++) {
        status.applied(state, err, 0.01);
        assert.equal(health.ready(), true, `one-off failure ${i} is retried quietly`);
      }
      status.applied(state, err, 0.01);
      assert.equal(health.ready(), false);
      const body = JSON.stringify(probeBody(health.summary(), "ready"));
      assert.match(body, /3 apply\(s\) failed in a row \(retrying\): iptables-restore: line 7 failed/);
      assert.equal(health.live(), true, "still live: it keeps retrying");
      // The heartbeat keeps it red and keeps the reason.
      (status as unknown as { beat(): void }).beat();
      assert.equal(health.ready(), false);
      assert.match(JSON.stringify(probeBody(health.summary(), "ready")), /line 7 failed/);
      status.applied(state, ok, 0.01);
      assert.equal(health.ready(), true);
    } finally {
      status.close();
    }
  });
});
