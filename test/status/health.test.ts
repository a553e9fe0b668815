import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ConfigError } from "../../src/config.js";
import { HealthAggregator, healthConfigFromEnv, startHealthServer } from "../../status/health.js";
import type { HttpListener } from "../../status/http-server.js";

class FakeClock {
  ms = Date.parse("2026-01-01T00:00:00Z");
  readonly now = () => this.ms;
  advance(s: number) {
    this.ms += s * 1000;
  }
}

describe("HealthAggregator", () => {
  test("a reporter that never reported is neither live nor ready", () => {
    const h = new HealthAggregator();
    h.register("dataplane");
    const s = h.summary();
    assert.equal(s.live, false);
    assert.equal(s.ready, false);
    assert.equal(s.reporters[0].problem, "no report yet");
  });

  test("no reporters: live and ready", () => {
    const h = new HealthAggregator();
    assert.equal(h.live(), true);
    assert.equal(h.ready(), true);
  });

  test("AND over reporters; omitted fields keep their value; detail is per report", () => {
    const h = new HealthAggregator();
    h.register("datastore");
    h.register("dataplane");
    h.report("datastore", { live: true, ready: true });
    h.report("dataplane", { live: true, detail: "waiting for first apply" });
    assert.equal(h.live(), true);
    assert.equal(h.ready(), false);
    const dp = h.summary().reporters.find((r) => r.name === "dataplane")!;
    assert.equal(dp.problem, "reported not ready");
    assert.equal(dp.detail, "waiting for first apply");
    h.report("dataplane", { ready: true });
    assert.equal(h.ready(), true);
    assert.equal(h.live(), true, "live kept from the earlier report");
    assert.equal(h.summary().reporters.find((r) => r.name === "dataplane")!.detail, undefined);
  });

  test("a reporter only counts for what it registered for", () => {
    const h = new HealthAggregator();
    h.register("startup", { live: false, ready: true });
    h.register("watchdog", { live: true, ready: false });
    h.report("watchdog", { live: true });
    assert.equal(h.live(), true, "startup does not speak for liveness");
    assert.equal(h.ready(), false);
    h.report("startup", { ready: true });
    assert.equal(h.ready(), true, "watchdog does not speak for readiness");
  });

  test("liveness timeout with a fake clock: silent past the timeout is not live nor ready", () => {
    const clock = new FakeClock();
    const h = new HealthAggregator(clock.now);
    h.register("calc-graph", { timeoutMs: 30_000 });
    h.report("calc-graph", { live: true, ready: true });
    clock.advance(30);
    assert.equal(h.live(), true, "exactly at the timeout is still live");
    clock.advance(1);
    const s = h.summary();
    assert.equal(s.live, false);
    assert.equal(s.ready, false);
    assert.match(s.reporters[0].problem!, /timed out: last report 31\.0s ago \(timeout 30s\)/);
    h.report("calc-graph", {});
    assert.equal(h.live(), true, "a heartbeat revives it");
    assert.equal(h.ready(), true);
  });

  test("reporting to an unknown name throws; bad timeouts are refused", () => {
    const h = new HealthAggregator();
    assert.throws(() => h.report("nope", { live: true }), /not registered/);
    assert.throws(() => h.register("x", { timeoutMs: 0 }), RangeError);
  });
});

describe("health server", () => {
  const clock = new FakeClock();
  const h = new HealthAggregator(clock.now);
  h.register("datastore");
  h.register("dataplane", { timeoutMs: 90_000 });
  let srv: HttpListener;
  let base: string;

  before(async () => {
    srv = await startHealthServer({ host: "127.0.0.1", port: 0, aggregator: h });
    assert.notEqual(srv.port, 0);
    base = `http://127.0.0.1:${srv.port}`;
  });
  after(() => srv.close());

  test("503 before ready, with a body saying which reporter and why; 200 after", async () => {
    h.report("datastore", { live: true, ready: false, detail: "waiting for the first complete list" });
    h.report("dataplane", { live: true, ready: false });

    let res = await fetch(`${base}/readiness`);
    assert.equal(res.status, 503);
    assert.match(res.headers.get("content-type")!, /application\/json/);
    let body = (await res.json()) as {
      status: string;
      ready: boolean;
      reporters: { name: string; ready: boolean; problem?: string; detail?: string }[];
    };
    assert.equal(body.status, "not ready");
    assert.equal(body.ready, false);
    assert.deepEqual(
      body.reporters.map((r) => [r.name, r.ready, r.problem]),
      [
        ["dataplane", false, "reported not ready"],
        ["datastore", false, "reported not ready"],
      ],
    );
    assert.equal(body.reporters[1].detail, "waiting for the first complete list");

    res = await fetch(`${base}/liveness`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { live: boolean }).live, true);

    h.report("datastore", { ready: true });
    h.report("dataplane", { ready: true });
    res = await fetch(`${base}/readiness`);
    assert.equal(res.status, 200);
    body = (await res.json()) as typeof body;
    assert.equal(body.status, "ok");
    assert.ok(body.reporters.every((r) => r.ready && r.problem === undefined));
  });

  test("liveness goes 503 when a reporter times out", async () => {
    h.report("datastore", { live: true, ready: true });
    h.report("dataplane", { live: true, ready: true });
    clock.advance(91);
    h.report("datastore", {});
    const res = await fetch(`${base}/liveness`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as { reporters: { name: string; live: boolean; problem?: string }[] };
    const dp = body.reporters.find((r) => r.name === "dataplane")!;
    assert.equal(dp.live, false);
    assert.match(dp.problem!, /timed out/);
    assert.equal(body.reporters.find((r) => r.name === "datastore")!.live, true);
    h.report("dataplane", {});
    assert.equal((await fetch(`${base}/liveness`)).status, 200);
  });

  test("/ and unknown paths are 404; the query string is ignored; other methods 405", async () => {
    for (const p of ["/", "/metrics", "/livenessx"]) {
      const res = await fetch(`${base}${p}`);
      assert.equal(res.status, 404, p);
      await res.arrayBuffer();
    }
    const q = await fetch(`${base}/liveness?verbose=1`);
    assert.equal(q.status, 200);
    await q.arrayBuffer();
    const post = await fetch(`${base}/readiness`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.arrayBuffer();
    const head = await fetch(`${base}/readiness`, { method: "HEAD" });
    assert.equal(head.status, 200);
  });

  test("listening on a port in use rejects", async () => {
    await assert.rejects(startHealthServer({ host: "127.0.0.1", port: srv.port, aggregator: h }), /EADDRINUSE/);
  });
});

describe("healthConfigFromEnv", () => {
  test("Felix's defaults", () => {
    assert.deepEqual(healthConfigFromEnv({}), { enabled: false, host: "localhost", port: 9099 });
  });

  test("reads FELIX_HEALTHENABLED, FELIX_HEALTHHOST, FELIX_HEALTHPORT", () => {
    assert.deepEqual(
      healthConfigFromEnv({ FELIX_HEALTHENABLED: "True", FELIX_HEALTHHOST: "0.0.0.0", FELIX_HEALTHPORT: "19099" }),
      { enabled: true, host: "0.0.0.0", port: 19099 },
    );
    assert.equal(healthConfigFromEnv({ FELIX_HEALTHHOST: "::" }).host, "::");
    assert.equal(healthConfigFromEnv({ FELIX_HEALTHHOST: "[::1]" }).host, "::1");
    assert.equal(healthConfigFromEnv({ FELIX_HEALTHENABLED: "" }).enabled, false);
  });

  test("clear errors for bad values", () => {
    assert.throws(() => healthConfigFromEnv({ FELIX_HEALTHENABLED: "maybe" }), {
      message: 'FELIX_HEALTHENABLED must be true or false, not "maybe"',
    });
    assert.throws(() => healthConfigFromEnv({ FELIX_HEALTHPORT: "99999" }), ConfigError);
    assert.throws(
      () => healthConfigFromEnv({ FELIX_HEALTHPORT: "9099x" }),
      /FELIX_HEALTHPORT must be a port number between 0 and 65535, not "9099x"/,
    );
    assert.throws(() => healthConfigFromEnv({ FELIX_HEALTHPORT: "-1" }), /FELIX_HEALTHPORT/);
    assert.throws(() => healthConfigFromEnv({ FELIX_HEALTHHOST: "localhost:9099" }), /without a port/);
    assert.throws(() => healthConfigFromEnv({ FELIX_HEALTHHOST: "http://x" }), /FELIX_HEALTHHOST/);
  });
});
