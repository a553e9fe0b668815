// The services' health check node ports and kube-proxy's /healthz, over real
// HTTP on the loopback address: status codes, headers and bodies as
// kube-proxy writes them, servers following the services, a taken port
// reported and retried, staleness from an injected clock.

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import type { ServiceHealthCheck } from "../../calc-graph/services/health-checks.js";
import { listen } from "../../status/http-server.js";
import {
  goTime,
  nodeEligible,
  ProxyHealth,
  proxyHealthConfigFromEnv,
  startProxyHealthServer,
} from "../../status/proxy-health.js";
import { ServiceHealthServers, serviceHealthBody } from "../../status/service-health.js";

const HOST = "127.0.0.1";

/** A port free right now (bound to 0, then released). */
async function freePort(): Promise<number> {
  const l = await listen(() => {}, HOST, 0);
  const p = l.port;
  await l.close();
  return p;
}

async function get(port: number, path = "/") {
  const r = await fetch(`http://${HOST}:${port}${path}`);
  return {
    status: r.status,
    type: r.headers.get("content-type"),
    nosniff: r.headers.get("x-content-type-options"),
    body: await r.text(),
  };
}

const refused = async (port: number) => {
  try {
    await fetch(`http://${HOST}:${port}/`);
    return false;
  } catch {
    return true;
  }
};

const check = (port: number, localEndpoints: number, name = "web"): ServiceHealthCheck => ({
  namespace: "demo",
  name,
  port,
  localEndpoints,
});

describe("service health check node ports", () => {
  test("200 with the local endpoint count, 503 without one or when the proxy is not healthy; kube-proxy's body and headers", async () => {
    let healthy = true;
    const errors: string[] = [];
    const s = new ServiceHealthServers({
      proxyHealthy: () => healthy,
      onError: (_c, e) => errors.push(e.message),
      host: HOST,
    });
    const [a, b] = [await freePort(), await freePort()];
    try {
      await s.sync(
        new Map([
          ["demo/web", check(a, 2)],
          ["demo/api", check(b, 0, "api")],
        ]),
      );
      const ok = await get(a, "/any/path");
      assert.deepEqual(ok, {
        status: 200,
        type: "application/json",
        nosniff: "nosniff",
        body: '{\n\t"service": {\n\t\t"namespace": "demo",\n\t\t"name": "web"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}',
      });
      const none = await get(b);
      assert.equal(none.status, 503);
      assert.equal(none.body, serviceHealthBody("demo", "api", 0, true));
      healthy = false;
      const stale = await get(a);
      assert.equal(stale.status, 503);
      assert.match(stale.body, /"localEndpoints": 2,\n\t"serviceProxyHealthy": false/);
      healthy = true;
      // The count follows the next sync; a service gone closes its port.
      await s.sync(new Map([["demo/web", check(a, 0)]]));
      assert.equal((await get(a)).status, 503);
      assert.ok(await refused(b), "the removed service's port is closed");
      // A new port for the same service: the old one closes, the new one answers.
      const c = await freePort();
      await s.sync(new Map([["demo/web", check(c, 1)]]));
      assert.ok(await refused(a));
      assert.equal((await get(c)).status, 200);
      assert.deepEqual(errors, []);
    } finally {
      await s.close();
    }
  });

  test("a port taken by another program is reported once, not thrown, and served once it is free", async () => {
    const port = await freePort();
    const squatter = createServer().listen(port, HOST);
    await new Promise((r) => squatter.once("listening", r));
    const errors: string[] = [];
    const s = new ServiceHealthServers({
      proxyHealthy: () => true,
      onError: (c, e) => errors.push(`${c.namespace}/${c.name}:${c.port} ${e.message}`),
      host: HOST,
    });
    try {
      const checks = new Map([["demo/web", check(port, 1)]]);
      await s.sync(checks);
      await s.sync(checks);
      assert.equal(errors.length, 1, errors.join("\n"));
      assert.match(errors[0], new RegExp(`demo/web:${port} .*EADDRINUSE`));
      assert.deepEqual([...s.ports()], []);
      await new Promise((r) => squatter.close(r));
      await s.sync(checks);
      assert.equal((await get(port)).status, 200);
      assert.equal(errors.length, 1);
    } finally {
      squatter.close();
      await s.close();
    }
  });
});

describe("service health check ports on --nodeport-addresses", () => {
  test("listens only on the given addresses; a change of addresses moves the servers", async () => {
    const s = new ServiceHealthServers({ proxyHealthy: () => true, onError: () => {} });
    const port = await freePort();
    const at = async (host: string) => {
      try {
        return (await fetch(`http://${host}:${port}/`)).status;
      } catch {
        return "refused";
      }
    };
    try {
      await s.sync(new Map([["demo/web", check(port, 1)]]), ["127.0.0.2"]);
      assert.equal(await at("127.0.0.2"), 200);
      assert.equal(await at("127.0.0.1"), "refused");
      await s.sync(new Map([["demo/web", check(port, 1)]]), ["127.0.0.1", "127.0.0.3"]);
      assert.equal(await at("127.0.0.1"), 200);
      assert.equal(await at("127.0.0.3"), 200);
      assert.equal(await at("127.0.0.2"), "refused");
    } finally {
      await s.close();
    }
  });
});

describe("kube-proxy's proxy health server (/healthz, /livez)", () => {
  test("healthy until a change waits longer than the timeout; programmed again, healthy again", () => {
    let now = Date.UTC(2026, 11, 6, 9, 30, 0, 120);
    const h = new ProxyHealth(60_000, () => now);
    assert.equal(h.isHealthy(), true, "healthy while starting up");
    h.queued();
    now += 120_000;
    assert.equal(h.isHealthy(), true, "still starting up: nothing programmed yet (kube-proxy's rule)");
    h.updated();
    const firstProgrammed = now;
    h.queued();
    now += 59_999;
    assert.equal(h.isHealthy(), true, "pending, not late yet");
    h.queued(); // a later change does not move the oldest one
    now += 1;
    assert.equal(h.isHealthy(), false);
    const stale = h.answer(true);
    assert.equal(stale.status, 503);
    assert.equal(
      stale.body,
      `{"lastUpdated": "${goTime(firstProgrammed)}","currentTime": "${goTime(now)}", "nodeEligible": true}`,
    );
    h.updated();
    assert.equal(h.isHealthy(), true);
    const ok = h.answer(false);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, `{"lastUpdated": "${goTime(now)}","currentTime": "${goTime(now)}"}`);
    // Stale after a programmed state: lastUpdated is when it was programmed.
    const programmed = now;
    h.queued();
    now += 60_000;
    assert.equal(h.answer(false).body, `{"lastUpdated": "${goTime(programmed)}","currentTime": "${goTime(now)}"}`);
  });

  test("a node being deleted or tainted for deletion: /healthz 503 with nodeEligible false, /livez still 200", () => {
    const h = new ProxyHealth(60_000, () => 0);
    const taint = { spec: { taints: [{ key: "ToBeDeletedByClusterAutoscaler", effect: "NoSchedule" }] } };
    assert.equal(nodeEligible(taint), false);
    assert.equal(nodeEligible({ metadata: { deletionTimestamp: "2026-12-06T09:00:00Z" } }), false);
    assert.equal(nodeEligible({ spec: { taints: [{ key: "other" }] } }), true);
    assert.equal(nodeEligible(null), true);
    h.setNodeEligible(nodeEligible(taint));
    const healthz = h.answer(true);
    assert.equal(healthz.status, 503);
    assert.match(healthz.body, /"nodeEligible": false\}$/);
    assert.equal(h.answer(false).status, 200);
    assert.equal(h.isHealthy(), true, "what the service health checks report as serviceProxyHealthy");
  });

  test("Go's time format, without trailing zeros in the fraction", () => {
    assert.equal(goTime(Date.UTC(2026, 0, 2, 3, 4, 5, 120)), "2026-01-02 03:04:05.12 +0000 UTC");
    assert.equal(goTime(Date.UTC(2026, 0, 2, 3, 4, 5, 0)), "2026-01-02 03:04:05 +0000 UTC");
  });

  test("over HTTP: /healthz with nodeEligible, /livez without, 503 when stale, 404 elsewhere", async () => {
    let now = Date.now();
    const h = new ProxyHealth(60_000, () => now);
    const srv = await startProxyHealthServer(h, 0, HOST);
    try {
      const healthz = await get(srv.port, "/healthz");
      assert.equal(healthz.status, 200);
      assert.equal(healthz.type, "application/json");
      assert.equal(healthz.nosniff, "nosniff");
      assert.match(healthz.body, /^\{"lastUpdated": "[^"]+","currentTime": "[^"]+", "nodeEligible": true\}$/);
      const livez = await get(srv.port, "/livez");
      assert.match(livez.body, /^\{"lastUpdated": "[^"]+","currentTime": "[^"]+"\}$/);
      h.updated();
      h.queued();
      now += 61_000;
      assert.equal((await get(srv.port, "/healthz")).status, 503);
      assert.equal((await get(srv.port, "/livez")).status, 503);
      assert.equal((await get(srv.port, "/metrics")).status, 404);
    } finally {
      await srv.close();
    }
  });

  test("FELIX_KUBEPROXYHEALTHZPORT: 10256 by default, 0 disables, a bad value is a configuration error", () => {
    assert.equal(proxyHealthConfigFromEnv({}).port, 10256);
    assert.equal(proxyHealthConfigFromEnv({ FELIX_KUBEPROXYHEALTHZPORT: "0" }).port, 0);
    assert.throws(
      () => proxyHealthConfigFromEnv({ FELIX_KUBEPROXYHEALTHZPORT: "70000" }),
      /FELIX_KUBEPROXYHEALTHZPORT/,
    );
  });
});
