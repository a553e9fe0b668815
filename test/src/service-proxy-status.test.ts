// The agent's service-proxy status: a services change waiting to be
// programmed makes /healthz stale after the timeout, programming clears it;
// the health check ports follow the programmed services; the Node's taint
// reaches /healthz.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pino } from "pino";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { serviceHealthChecks } from "../../calc-graph/services/health-checks.js";
import type { ApplyResult } from "../../src/dataplane.js";
import { ServiceProxyStatus } from "../../src/service-proxy-status.js";
import { listen } from "../../status/http-server.js";
import { ProxyHealth } from "../../status/proxy-health.js";
import { node, update } from "../calc-graph/fixtures.js";
import { sliceUpdate, svcUpdate } from "../calc-graph/services/fixtures.js";

const OK = { changes: 1 } as unknown as ApplyResult;

async function freePort(): Promise<number> {
  const l = await listen(() => {}, "127.0.0.1", 0);
  const p = l.port;
  await l.close();
  return p;
}

describe("ServiceProxyStatus", () => {
  test("staleness from the daemon's batches and applies; health check ports follow what was programmed", async () => {
    let now = 1_000_000;
    const health = new ProxyHealth(60_000, () => now);
    const status = new ServiceProxyStatus({ port: 0 }, pino({ level: "silent" }), "node1", () => ["127.0.0.1"], health);
    const port = await freePort();
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables" });
    const lb = svcUpdate("web", {
      type: "LoadBalancer",
      clusterIP: "10.96.0.10",
      externalTrafficPolicy: "Local",
      healthCheckNodePort: port,
      ports: [{ name: "http", port: 80, nodePort: 30080 }],
    });
    try {
      // The free port is an ephemeral one: the node-port range is widened to it (else refused).
      const ranges = { kubeNodePortRanges: ["30000:32767", String(port)] };
      const s1 = g.apply([
        update("FelixConfiguration", "", "default", { metadata: { name: "default" }, spec: ranges }),
        node("node1", "10.65.1.0/24", "172.18.0.1"),
        lb,
        sliceUpdate("web-1", "web", [{ ip: "10.65.1.10", node: "node1" }]),
      ]);
      status.batch(s1, []);
      now += 120_000;
      assert.equal(health.isHealthy(), true, "nothing programmed yet: healthy while starting");
      status.applied(s1, OK);
      await status.checks.sync(serviceHealthChecks(s1.services), ["127.0.0.1"]);
      assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);
      // A change arrives and is not programmed for longer than the timeout.
      const s2 = g.apply([sliceUpdate("web-1", "web", [{ ip: "10.65.2.10", node: "node2" }])]);
      status.batch(s2, []);
      now += 61_000;
      assert.equal(health.isHealthy(), false);
      assert.equal(health.answer(false).status, 503);
      status.applied(s2, new Error("iptables-restore failed"));
      assert.equal(health.isHealthy(), false, "a failed apply programs nothing");
      status.applied(s2, OK);
      assert.equal(health.isHealthy(), true);
      await status.checks.sync(serviceHealthChecks(s2.services), ["127.0.0.1"]);
      const r = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(r.status, 503, "no local endpoint any more");
      // The Node tainted for deletion: /healthz only.
      const tainted = {
        kind: "Node" as const,
        namespace: "",
        name: "node1",
        value: {
          kind: "Node",
          metadata: { name: "node1" },
          spec: { taints: [{ key: "ToBeDeletedByClusterAutoscaler" }] },
        },
      };
      status.batch(s2, [tainted as never]);
      assert.equal(health.answer(true).status, 503);
      assert.equal(health.answer(false).status, 200);
    } finally {
      await status.close();
    }
  });
});
