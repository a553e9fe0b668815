import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { computeDesiredState } from "../../calc-graph/calc-graph.js";
import { ipSetCount } from "../../model/ipset-shards.js";
import type { ApplyResult } from "../../src/dataplane.js";
import type { HttpListener } from "../../status/http-server.js";
import { Metrics } from "../../status/metrics.js";
import { metricsConfigFromEnv, startMetricsServer } from "../../status/metrics-server.js";
import { ProgrammingLatency } from "../../status/programming-latency.js";
import { namespace, pod, policy } from "../calc-graph/fixtures.js";

const result = (o: Partial<ApplyResult> = {}): ApplyResult => ({
  changes: 7,
  iptablesBytes: 100,
  ipsetBytes: 20,
  restoreMs: 3,
  routes: { added: 2, removed: 1, pending: 0 },
  sysctlsWritten: 0,
  warnings: [],
  ...o,
});

/** One sample: `name` may be a histogram's `_count`, `_sum` or `_bucket` (with an `le` label). */
async function value(m: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const base = name.replace(/_(count|sum|bucket)$/, "");
  const metric = m.registry.getSingleMetric(name) ?? m.registry.getSingleMetric(base);
  assert.ok(metric, `metric ${name} is registered`);
  const v = (await metric.get()).values.find(
    (x) =>
      ((x as { metricName?: string }).metricName ?? name) === name &&
      Object.entries(labels).every(([k, want]) => String((x.labels as Record<string, unknown>)[k]) === want),
  );
  return v?.value;
}

const NAMES = [
  "felix_iptables_restore_calls",
  "felix_iptables_restore_errors",
  "felix_int_dataplane_apply_time_seconds",
  "felix_int_dataplane_failures",
  "felix_dataplane_changes_total",
  "felix_dataplane_last_apply_changes",
  "felix_active_local_endpoints",
  "felix_resource_problems",
  "felix_ipset_calls",
  "felix_ipset_errors",
  "felix_routes_added",
  "felix_routes_removed",
  "felix_resyncs_started",
  "felix_active_local_policies",
  "felix_ipsets_calico",
  "felix_ipsets_overfull",
  "felix_calc_graph_update_time_seconds",
  "felix_network_programming_duration_seconds",
];

describe("Metrics", () => {
  test("observeState sets endpoint, policy, ipset and problem gauges and times the update", async () => {
    const m = new Metrics();
    const s = computeDesiredState({ nodeName: "node1" }, [
      namespace("prod"),
      pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } }),
      pod("prod", "db", { ip: "10.65.1.11", labels: { app: "db" } }),
      pod("prod", "elsewhere", { ip: "10.65.2.10", node: "node2", labels: { app: "web" } }),
      pod("prod", "broken", { ip: "10.0.0.999" }),
      policy("prod", "web-in", {
        podSelector: { matchLabels: { app: "web" } },
        ingress: [{ from: [{ podSelector: { matchLabels: { app: "db" } } }] }],
      }),
      policy("prod", "db-in", { podSelector: { matchLabels: { app: "db" } }, ingress: [] }),
      policy("prod", "nobody", { podSelector: { matchLabels: { app: "none" } }, ingress: [] }),
    ]);
    m.observeState(s, 0.002);
    assert.equal(await value(m, "felix_active_local_endpoints"), 2);
    assert.equal(await value(m, "felix_active_local_policies"), 2);
    assert.equal(await value(m, "felix_ipsets_calico"), ipSetCount(s.ipsets));
    assert.ok(ipSetCount(s.ipsets) > 0);
    assert.equal(await value(m, "felix_resource_problems"), 1);
    assert.equal(await value(m, "felix_calc_graph_update_time_seconds_count"), 1);
  });

  test("felix_ipsets_overfull counts the IP sets (per family) over FELIX_MAXIPSETSIZE", async () => {
    const m = new Metrics();
    const docs = [
      namespace("prod"),
      pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } }),
      ...["10.65.1.11", "10.65.1.12", "10.65.1.13"].map((ip, i) =>
        pod("prod", `db${i}`, { ip, labels: { app: "db" } }),
      ),
      policy("prod", "web-in", {
        podSelector: { matchLabels: { app: "web" } },
        ingress: [{ from: [{ podSelector: { matchLabels: { app: "db" } } }] }],
      }),
    ];
    m.observeState(computeDesiredState({ nodeName: "node1" }, docs));
    assert.equal(await value(m, "felix_ipsets_overfull"), 0);
    m.observeState(computeDesiredState({ nodeName: "node1", maxIpSetSize: 2 }, docs));
    assert.equal(await value(m, "felix_ipsets_overfull"), 1);
    assert.equal(await value(m, "felix_resource_problems"), 1);
  });

  test("observeApply counts changes and routes and times the apply", async () => {
    const m = new Metrics();
    m.observeApply(result(), 0.03);
    m.observeApply(result({ changes: 0, routes: { added: 0, removed: 0, pending: 1 } }), 0.01);
    assert.equal(await value(m, "felix_dataplane_changes_total"), 7);
    assert.equal(await value(m, "felix_dataplane_last_apply_changes"), 0);
    assert.equal(await value(m, "felix_routes_added"), 2);
    assert.equal(await value(m, "felix_routes_removed"), 1);
    assert.equal(await value(m, "felix_int_dataplane_apply_time_seconds_count"), 2);
    assert.equal(await value(m, "felix_int_dataplane_apply_time_seconds_bucket", { le: "0.025" }), 1);
  });

  test("two Metrics instances do not collide (own registries)", () => {
    new Metrics();
    new Metrics();
  });
});

describe("ProgrammingLatency", () => {
  test("observes each batch when the first state including it is applied", () => {
    const seen: number[] = [];
    let now = 0;
    const l = new ProgrammingLatency({ observe: (s) => seen.push(s) }, () => now);
    const s1 = {};
    const s2 = {};
    const s3 = {};
    l.seen(s1, 0);
    now = 100;
    l.seen(s2, 100);
    // An apply of s1 was running; s2 arrived during it.
    now = 150;
    assert.equal(l.programmed(s1), 1);
    assert.deepEqual(seen, [0.15]);
    l.seen(s3, 200);
    // A failed apply programs nothing; the retry applies s3, which includes s2.
    now = 500;
    assert.equal(l.programmed(s3), 2);
    assert.deepEqual(seen, [0.15, 0.4, 0.3]);
    assert.equal(l.waiting, 0);
    assert.equal(l.programmed(s3), 0, "a refresh apply of the same state observes nothing");
  });

  test("a no-op batch returning the same snapshot is programmed with it", () => {
    const seen: number[] = [];
    let now = 0;
    const l = new ProgrammingLatency({ observe: (s) => seen.push(s) }, () => now);
    const s1 = {};
    l.seen(s1, 0);
    l.seen(s1, 10);
    now = 20;
    assert.equal(l.programmed(s1), 2);
    assert.deepEqual(seen, [0.02, 0.01]);
  });

  test("feeds felix_network_programming_duration_seconds", async () => {
    const m = new Metrics();
    let now = 1000;
    const l = new ProgrammingLatency(m.networkProgrammingDuration, () => now);
    const s = {};
    l.seen(s);
    now = 1200;
    l.programmed(s);
    assert.equal(await value(m, "felix_network_programming_duration_seconds_count"), 1);
    assert.equal(await value(m, "felix_network_programming_duration_seconds_sum"), 0.2);
  });
});

describe("metrics server", () => {
  const m = new Metrics();
  let srv: HttpListener;
  before(async () => {
    srv = await startMetricsServer({ host: "127.0.0.1", port: 0, registry: m.registry });
  });
  after(() => srv.close());

  test("GET /metrics serves every metric in the Prometheus text format", async () => {
    m.resyncsStarted.inc();
    m.ipsetCalls.inc(3);
    const res = await fetch(`http://127.0.0.1:${srv.port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of NAMES) assert.match(text, new RegExp(`^# TYPE ${name} `, "m"), name);
    assert.match(text, /^felix_resyncs_started 1$/m);
    assert.match(text, /^felix_ipset_calls 3$/m);
    assert.match(text, /^# TYPE felix_network_programming_duration_seconds histogram$/m);
  });

  test("other paths are 404", async () => {
    for (const p of ["/", "/metricsx", "/liveness"]) {
      const res = await fetch(`http://127.0.0.1:${srv.port}${p}`);
      assert.equal(res.status, 404, p);
      await res.arrayBuffer();
    }
  });
});

describe("metricsConfigFromEnv", () => {
  test("Felix's defaults: disabled, all interfaces, 9091", () => {
    assert.deepEqual(metricsConfigFromEnv({}), { enabled: false, host: "", port: 9091, processMetrics: true });
  });

  test("reads the FELIX_PROMETHEUSMETRICS* variables", () => {
    assert.deepEqual(
      metricsConfigFromEnv({
        FELIX_PROMETHEUSMETRICSENABLED: "true",
        FELIX_PROMETHEUSMETRICSHOST: "10.0.0.1",
        FELIX_PROMETHEUSMETRICSPORT: "9191",
        FELIX_PROMETHEUSPROCESSMETRICSENABLED: "false",
      }),
      { enabled: true, host: "10.0.0.1", port: 9191, processMetrics: false },
    );
  });

  test("clear errors", () => {
    assert.throws(
      () => metricsConfigFromEnv({ FELIX_PROMETHEUSMETRICSPORT: "http" }),
      /FELIX_PROMETHEUSMETRICSPORT must be a port number between 0 and 65535, not "http"/,
    );
    assert.throws(
      () => metricsConfigFromEnv({ FELIX_PROMETHEUSMETRICSENABLED: "enabled" }),
      /FELIX_PROMETHEUSMETRICSENABLED must be true or false/,
    );
  });
});
