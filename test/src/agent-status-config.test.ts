// Fields set in FelixConfiguration/env that felix-ts does not implement are
// named once in a warning and in /readiness's body, and never make the node
// unready: nobody should believe pod traffic is encrypted when it is not.

import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import pino from "pino";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { AgentStatus, CONFIG_REPORTER } from "../../src/agent-status.js";
import { EndpointStatusTracker } from "../../status/endpoint-status.js";
import { HealthAggregator, startHealthServer } from "../../status/health.js";
import { Metrics } from "../../status/metrics.js";
import { update } from "../calc-graph/fixtures.js";

const felixConfig = (name: string, spec: Record<string, unknown>) =>
  update("FelixConfiguration", "", name, { kind: "FelixConfiguration", metadata: { name }, spec });

test("wireguardEnabled: true is named once in a warning and in /readiness, which stays 200", async () => {
  const lines: { level: number; msg: string; fields?: string[] }[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  const health = new HealthAggregator();
  const status = new AgentStatus({
    metrics: new Metrics(),
    log: pino({ level: "info" }, sink),
    health,
    endpoints: new EndpointStatusTracker(),
    applyingSince: () => undefined,
  });
  const srv = await startHealthServer({ host: "127.0.0.1", port: 0, aggregator: health });
  try {
    for (const name of ["datastore", "calc-graph", "dataplane"]) health.report(name, { live: true, ready: true });
    const g = new CalcGraph({ nodeName: "node1" });
    const s1 = g.apply([felixConfig("default", { wireguardEnabled: true, logSeverityScreen: "Debug" })]);
    status.batch(s1, 0, 0);
    status.batch(g.apply([]), 0, 0); // the same again: no second warning
    const warnings = lines.filter((l) => l.level === 40 && /not implement/.test(l.msg));
    assert.equal(warnings.length, 1);
    assert.deepEqual(warnings[0].fields, ["wireguardEnabled=true"]);
    assert.match(warnings[0].msg, /wireguardEnabled=true/);

    const res = await fetch(`http://127.0.0.1:${srv.port}/readiness`);
    assert.equal(res.status, 200, "ignored settings do not make the node unready");
    const body = (await res.json()) as { reporters: { name: string; detail?: string }[] };
    const rep = body.reporters.find((r) => r.name === CONFIG_REPORTER);
    assert.match(rep?.detail ?? "", /not implemented by felix-ts: wireguardEnabled=true$/);

    // node.node1 turns it off: the body no longer names it.
    status.batch(g.apply([felixConfig("node.node1", { wireguardEnabled: false })]), 0, 0);
    const again = (await (await fetch(`http://127.0.0.1:${srv.port}/readiness`)).json()) as typeof body;
    assert.equal(again.reporters.find((r) => r.name === CONFIG_REPORTER)?.detail, undefined);
  } finally {
    status.close();
    await srv.close();
  }
});
