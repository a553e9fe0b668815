// The Kubernetes datastore's own list-watch: a stop in the middle of a LIST
// aborts it and opens no WATCH (client-node's informer could); LIST in pages;
// the first batch in parts with the barrier at the last one; a broken or
// oversized watch event restarts the watch instead of crashing or growing.

import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { isPartial } from "../../../src/datastore/batch.js";
import { KubernetesDatastore, WATCHED } from "../../../src/datastore/kubernetes.js";
import { type FakeApiServer, kubeConfigObject, startFakeApiServer } from "../../helpers/fake-apiserver.js";
import { until } from "../../helpers/until.js";

const log = pino({ level: "silent" });

const kubeConfig = (url: string) => {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions(kubeConfigObject({ url }));
  return kc;
};

interface Seen {
  path: string;
  watch: boolean;
  /** Whether the client went away before an answer. */
  aborted: boolean;
}

/**
 * A scripted API server: every LIST is an empty list, every WATCH stays open
 * (silent) unless `watchBody` answers it; a LIST of `holdPath` is held until
 * `release()`. Records every request.
 */
class ScriptedServer {
  readonly seen: Seen[] = [];
  private held: http.ServerResponse[] = [];
  private readonly open = new Set<http.ServerResponse>();
  private readonly server: http.Server;
  /** The body of the n-th WATCH of a path (0-based), or undefined to keep it open. */
  watchBody: ((path: string, n: number) => string | undefined) | undefined;
  private readonly watches = new Map<string, number>();

  constructor(private readonly holdPath?: string) {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const watch = url.searchParams.get("watch") === "true";
      const entry: Seen = { path: url.pathname, watch, aborted: false };
      this.seen.push(entry);
      res.on("close", () => {
        if (!res.writableEnded) entry.aborted = true;
        this.open.delete(res);
      });
      this.open.add(res);
      if (watch) {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.flushHeaders();
        const n = this.watches.get(url.pathname) ?? 0;
        this.watches.set(url.pathname, n + 1);
        const body = this.watchBody?.(url.pathname, n);
        if (body !== undefined) res.end(body);
        return;
      }
      if (url.pathname === this.holdPath) {
        this.held.push(res);
        return;
      }
      this.answerList(res);
    });
  }

  private answerList(res: http.ServerResponse): void {
    if (res.destroyed) return;
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ kind: "List", apiVersion: "v1", metadata: { resourceVersion: "7" }, items: [] }));
  }

  /** Answers the held LISTs (if their clients are still there). */
  release(): void {
    for (const res of this.held.splice(0)) this.answerList(res);
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const res of this.open) res.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

describe("the Kubernetes datastore's list-watch", () => {
  test("stopped while a LIST is in flight: the LIST is aborted and no request (no WATCH) follows", async () => {
    const srv = new ScriptedServer("/api/v1/pods");
    const url = await srv.listen();
    try {
      const batches: ResourceUpdate[][] = [];
      const sub = new KubernetesDatastore({ kubeConfig: kubeConfig(url), log, minBackoffMs: 5 })
        .updates()
        .subscribe((b) => batches.push(b));
      const podsList = () => srv.seen.find((s) => s.path === "/api/v1/pods" && !s.watch);
      await until(() => podsList() !== undefined, "the Pod LIST to arrive");
      // Every other kind listed and watching (so nothing the client sent before the stop arrives after it).
      await until(() => srv.seen.filter((s) => s.watch).length === WATCHED.length - 1, "every other kind's WATCH");
      sub.unsubscribe();
      const before = srv.seen.length;
      await until(() => podsList()!.aborted, "the held LIST to be aborted by the client");
      srv.release();
      // Let any request a stray timer or promise would send arrive.
      await new Promise((r) => setTimeout(r, 300));
      const after = srv.seen.slice(before);
      assert.deepEqual(after, [], `requests after stop: ${JSON.stringify(after)}`);
      assert.ok(!srv.seen.some((s) => s.path === "/api/v1/pods" && s.watch), "no Pod WATCH ever");
      assert.equal(batches.length, 0, "never in sync");
    } finally {
      await srv.close();
    }
  });

  test("a watch event that is not JSON, or too large, restarts the watch; the agent neither crashes nor grows", async () => {
    const srv = new ScriptedServer();
    // Every Namespace WATCH: the first two answer garbage, then an oversized line, then silence.
    const big = `{"type":"ADDED","object":{"metadata":{"name":"${"x".repeat(17 * 1024 * 1024)}`;
    srv.watchBody = (path, n) =>
      path !== "/api/v1/namespaces" ? undefined : n < 2 ? "not json\n" : n < 4 ? big : undefined;
    const url = await srv.listen();
    const events: string[] = [];
    try {
      const batches: ResourceUpdate[][] = [];
      const sub = new KubernetesDatastore({
        kubeConfig: kubeConfig(url),
        log,
        minBackoffMs: 5,
        maxBackoffMs: 20,
        onEvent: (e) => events.push(`${e.kind}:${e.what}`),
      })
        .updates()
        .subscribe((b) => batches.push(b));
      try {
        await until(() => batches.length === 1, "in sync");
        const nsWatches = () => srv.seen.filter((s) => s.path === "/api/v1/namespaces" && s.watch).length;
        await until(() => nsWatches() >= 5, "the Namespace watch to be reopened after each bad stream");
        assert.ok(events.includes("Namespace:error") && events.includes("Namespace:restart"));
        assert.equal(
          srv.seen.filter((s) => s.path === "/api/v1/namespaces" && !s.watch).length,
          1,
          "a bad stream resumes the watch: no relist",
        );
        assert.deepEqual(batches, [[]], "nothing but the (empty) in-sync batch came out");
      } finally {
        sub.unsubscribe();
      }
    } finally {
      await srv.close();
    }
  });

  describe("against the fake API server", () => {
    let server: FakeApiServer;
    before(async () => {
      server = await startFakeApiServer();
    });
    after(async () => {
      await server.close();
    });

    test("LIST in pages; with `partial` the first batch comes in parts, the barrier at the last, same state", async () => {
      server.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "p" } });
      for (let i = 0; i < 1_100; i++) {
        const ip = `10.66.${i >> 8}.${i & 255}`;
        server.create({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: `p${i}`, namespace: "p", labels: { i: String(i % 7) } },
          spec: { nodeName: "node1", containers: [{ name: "c" }] },
          status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
        });
      }
      server.create({
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "deny", namespace: "p" },
        spec: { podSelector: { matchLabels: { i: "3" } }, policyTypes: ["Ingress"] },
      });
      const mark = server.mark();
      const kc = kubeConfig(server.url);
      const parts: ResourceUpdate[][] = [];
      const graph = new CalcGraph({ nodeName: "node1" });
      let state = graph.current;
      const sub = new KubernetesDatastore({ kubeConfig: kc, log, pageSize: 100 })
        .updates({ partial: true })
        .subscribe((b) => {
          parts.push(b);
          if (isPartial(b)) graph.ingest(b);
          else state = graph.apply(b);
        });
      const whole: ResourceUpdate[][] = [];
      const sub2 = new KubernetesDatastore({ kubeConfig: kc, log }).updates().subscribe((b) => whole.push(b));
      try {
        await until(() => parts.some((b) => !isPartial(b)) && whole.length > 0, "in sync");
        const complete = parts.findIndex((b) => !isPartial(b));
        assert.equal(complete, parts.length - 1, "nothing after the in-sync part yet");
        assert.ok(complete >= 2, `the listed pods came in parts (${parts.map((b) => b.length)})`);
        assert.equal(whole.length, 1, "without `partial`: one batch");
        const pods = server.requests.slice(mark).filter((r) => r.path === "/api/v1/pods" && !r.watch);
        assert.ok(pods.filter((r) => r.query.limit === "100").length >= 11, "paged at 100");
        assert.ok(
          pods.some((r) => r.query.continue),
          "continued",
        );
        const keys = (bs: ResourceUpdate[][]) => bs.flat().map((u) => `${u.kind}/${u.namespace}/${u.name}`);
        assert.deepEqual(keys(parts).sort(), keys(whole).sort(), "the parts hold what the single batch holds");
        assert.deepEqual(state, new CalcGraph({ nodeName: "node1" }).apply(whole[0]), "and give the same state");
        assert.equal(Object.keys(state.endpoints).length, 1_100);
      } finally {
        sub.unsubscribe();
        sub2.unsubscribe();
      }
    });
  });
});
