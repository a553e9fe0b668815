/**
 * Tests for the fake API server, driven by the REAL @kubernetes/client-node 1.4.0 (informers, Watch, typed APIs).
 * They double as executable documentation of how client-node behaves on the wire.
 */
import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import {
  type FakeApiServer,
  type FakeApiServerOptions,
  jsonPatch,
  type KObject,
  kubeConfigObject,
  kubeconfigFor,
  type RecordedRequest,
  startFakeApiServer,
  strategicMerge,
} from "./fake-apiserver.js";

const T = { timeout: 5000 };

/**
 * makeInformer() is typed as Informer & ObjectCache, but returns a ListWatch, which also has latestResourceVersion().
 */
const rvOf = (inf: unknown) => (inf as k8s.ListWatch<k8s.KubernetesObject>).latestResourceVersion();

/**
 * client-node 1.4.0 pitfall: when the informer re-watches on its own (after a stream end or a 410 relist), stop()
 * called before that watch's response headers arrive aborts nothing, and the new watch then stays open and keeps
 * delivering events after stop(). Wait for the (private) request handle before stopping.
 */
const watchEstablished = (inf: unknown) =>
  waitFor(() => (inf as { request?: unknown }).request !== undefined, "informer watch established");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface Env {
  server: FakeApiServer;
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  net: k8s.NetworkingV1Api;
  disc: k8s.DiscoveryV1Api;
  /** Register an informer so that it is stopped when the test ends. */
  track<I extends k8s.Informer<k8s.KubernetesObject>>(inf: I): I;
}

/** A started server plus clients; everything is torn down when the test ends (informers first, then the server). */
async function env(t: TestContext, opts?: FakeApiServerOptions): Promise<Env> {
  const server = await startFakeApiServer(opts);
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions(kubeConfigObject(server));
  const informers: k8s.Informer<k8s.KubernetesObject>[] = [];
  t.after(async () => {
    for (const inf of informers) await inf.stop();
    await server.close();
  });
  return {
    server,
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    net: kc.makeApiClient(k8s.NetworkingV1Api),
    disc: kc.makeApiClient(k8s.DiscoveryV1Api),
    track(inf) {
      informers.push(inf);
      return inf;
    },
  };
}

/** Record an informer's callbacks as "add ns/name" strings, plus errors and connects. */
function recordInformer(inf: k8s.Informer<k8s.KubernetesObject>) {
  const events: string[] = [];
  const errors: unknown[] = [];
  let connects = 0;
  const id = (o: k8s.KubernetesObject) =>
    `${o.metadata?.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata?.name}`;
  inf.on("add", (o) => events.push(`add ${id(o)}`));
  inf.on("update", (o) => events.push(`update ${id(o)}`));
  inf.on("delete", (o) => events.push(`delete ${id(o)}`));
  inf.on("error", (e) => errors.push(e));
  inf.on("connect", () => connects++);
  return {
    events,
    errors,
    get connects() {
      return connects;
    },
  };
}

const pod = (ns: string, name: string, extra: Partial<KObject> = {}): KObject => ({
  kind: "Pod",
  metadata: { namespace: ns, name, labels: { app: "web" } },
  spec: { nodeName: "n1", containers: [{ name: "c", image: "busybox" }] },
  ...extra,
});

const isList = (path: string) => (r: RecordedRequest) => r.method === "GET" && r.path === path && !r.watch;
const isWatch = (path: string) => (r: RecordedRequest) => r.method === "GET" && r.path === path && r.watch;

describe("fake-apiserver with @kubernetes/client-node 1.4.0", () => {
  test("LIST: kinds, selectors, pagination, GET, 404, kubeconfig file", T, async (t) => {
    const { server, core, net, disc } = await env(t);
    const typedNs: k8s.V1Namespace = { kind: "Namespace", metadata: { name: "a" } }; // client-node models work too
    server.create(typedNs);
    server.create(pod("a", "p1"));
    server.create(pod("a", "p2", { spec: { nodeName: "n2", containers: [] } }));
    server.create(pod("b", "p3", { metadata: { namespace: "b", name: "p3", labels: { app: "db" } } }));
    server.create({
      kind: "NetworkPolicy",
      metadata: { namespace: "a", name: "deny" },
      spec: { podSelector: {}, policyTypes: ["Ingress"] },
    });
    server.create({
      kind: "EndpointSlice",
      metadata: { namespace: "a", name: "svc-abc", labels: { "kubernetes.io/service-name": "svc" } },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.0.0.1"] }],
    });

    const all = await core.listPodForAllNamespaces();
    assert.equal(all.metadata?.resourceVersion, String(server.resourceVersion));
    assert.deepEqual(
      all.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`),
      ["a/p1", "a/p2", "b/p3"],
    );
    assert.equal(all.items[0]!.kind, "Pod");
    assert.ok(all.items[0]!.metadata?.uid);
    // The typed list API deserializes timestamps into Date objects (watch events carry plain strings).
    assert.ok(all.items[0]!.metadata?.creationTimestamp instanceof Date);

    const web = await core.listNamespacedPod({ namespace: "a", labelSelector: "app=web" });
    assert.deepEqual(
      web.items.map((p) => p.metadata?.name),
      ["p1", "p2"],
    );
    const notDb = await core.listPodForAllNamespaces({ labelSelector: "app notin (db)" });
    assert.equal(notDb.items.length, 2);
    const onN1 = await core.listPodForAllNamespaces({ fieldSelector: "spec.nodeName=n1" });
    assert.deepEqual(
      onN1.items.map((p) => p.metadata?.name),
      ["p1", "p3"],
    );
    const byName = await core.listPodForAllNamespaces({ fieldSelector: "metadata.name=p2" });
    assert.deepEqual(
      byName.items.map((p) => p.metadata?.name),
      ["p2"],
    );

    const page1 = await core.listPodForAllNamespaces({ limit: 2 });
    assert.equal(page1.items.length, 2);
    assert.ok(page1.metadata?._continue, "continue token on a partial page");
    assert.equal(page1.metadata?.remainingItemCount, 1);
    server.create(pod("c", "p4")); // not visible in the paginated snapshot
    const page2 = await core.listPodForAllNamespaces({ limit: 2, _continue: page1.metadata._continue });
    assert.deepEqual(
      page2.items.map((p) => p.metadata?.name),
      ["p3"],
    );
    assert.equal(page2.metadata?._continue, undefined);
    assert.equal(page2.metadata?.resourceVersion, page1.metadata?.resourceVersion);

    const nps = await net.listNetworkPolicyForAllNamespaces();
    assert.equal(nps.items[0]?.spec?.policyTypes?.[0], "Ingress");
    const eps = await disc.listNamespacedEndpointSlice({ namespace: "a" });
    assert.equal(eps.items[0]?.endpoints[0]?.addresses[0], "10.0.0.1");

    const one = await core.readNamespacedPod({ namespace: "a", name: "p1" });
    assert.equal(one.spec?.nodeName, "n1");
    await assert.rejects(core.readNamespacedPod({ namespace: "a", name: "nope" }), (e: unknown) => {
      assert.equal((e as k8s.ApiException<unknown>).code, 404);
      return true;
    });
    const ns = await core.readNamespace({ name: "a" });
    assert.equal(ns.metadata?.name, "a");

    // Exact wire requests made by the typed client.
    assert.ok(server.requests.find((r) => r.path === "/api/v1/pods" && r.rawQuery === ""));
    assert.ok(
      server.requests.find((r) => r.path === "/api/v1/namespaces/a/pods" && r.query.labelSelector === "app=web"),
    );
    assert.ok(server.requests.find((r) => r.path === "/api/v1/pods" && r.query.fieldSelector === "spec.nodeName=n1"));
    assert.ok(server.requests.find((r) => r.path === "/apis/networking.k8s.io/v1/networkpolicies"));
    assert.ok(server.requests.find((r) => r.path === "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices"));
    assert.equal(server.requests[0]!.headers.authorization, "Bearer fake-token");

    // A kubeconfig file works the same.
    const kc2 = new k8s.KubeConfig();
    kc2.loadFromFile(kubeconfigFor(server, { token: "file-token" }));
    const viaFile = await kc2.makeApiClient(k8s.CoreV1Api).listNamespace();
    assert.deepEqual(
      viaFile.items.map((n) => n.metadata?.name),
      ["a"],
    );
    assert.equal(server.requests.at(-1)!.headers.authorization, "Bearer file-token");
  });

  test("pod informer: LIST then WATCH from the list RV; add/update/delete", T, async (t) => {
    const { server, kc, core, track } = await env(t);
    server.create(pod("a", "p1"));
    const listRv = server.resourceVersion;
    const inf = track(k8s.makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces()));
    const rec = recordInformer(inf);
    await inf.start();
    await server.waitForWatch();
    assert.deepEqual(rec.events, ["add a/p1"]);

    server.create(pod("a", "p2"));
    const p1 = server.get("Pod", "a", "p1")!;
    (p1.metadata!.labels as Record<string, string>).tier = "front";
    server.update(p1);
    server.delete("Pod", "a", "p2");
    await waitFor(() => rec.events.length === 4, "4 informer events");
    assert.deepEqual(rec.events, ["add a/p1", "add a/p2", "update a/p1", "delete a/p2"]);
    assert.equal(rvOf(inf), String(server.resourceVersion));
    assert.equal(inf.get("p1", "a")?.metadata?.labels?.tier, "front");
    assert.equal(inf.list().length, 1);

    // Wire: plain LIST (no query at all), then watch=true&resourceVersion=<list RV>. No allowWatchBookmarks,
    // no timeoutSeconds, no labelSelector/fieldSelector unless configured.
    const reqs = server.requests.map((r) => `${r.method} ${r.path}${r.rawQuery ? `?${r.rawQuery}` : ""}`);
    assert.deepEqual(reqs, ["GET /api/v1/pods", `GET /api/v1/pods?watch=true&resourceVersion=${listRv}`]);
    assert.equal(rec.errors.length, 0);
  });

  test("networkpolicy informer, and a field-selected ListWatch sees selector transitions", T, async (t) => {
    const { server, kc, core, net, track } = await env(t);
    const np = (name: string, ns = "a") => ({
      kind: "NetworkPolicy",
      apiVersion: "networking.k8s.io/v1",
      metadata: { namespace: ns, name },
      spec: { podSelector: { matchLabels: { app: "web" } }, policyTypes: ["Ingress"] },
    });
    server.create(np("allow-a"));
    const inf = track(
      k8s.makeInformer(kc, "/apis/networking.k8s.io/v1/networkpolicies", () => net.listNetworkPolicyForAllNamespaces()),
    );
    const rec = recordInformer(inf);
    await inf.start();
    await server.waitForWatch((w) => w.kind === "NetworkPolicy");
    server.create(np("allow-b", "b"));
    const b = server.get("NetworkPolicy", "b", "allow-b")!;
    (b.spec as { policyTypes: string[] }).policyTypes = ["Ingress", "Egress"];
    server.update(b);
    server.delete("NetworkPolicy", "a", "allow-a");
    await waitFor(() => rec.events.length === 4, "4 networkpolicy events");
    assert.deepEqual(rec.events, ["add a/allow-a", "add b/allow-b", "update b/allow-b", "delete a/allow-a"]);
    assert.deepEqual(inf.get("allow-b", "b")?.spec?.policyTypes, ["Ingress", "Egress"]);
    assert.ok(server.requests.some(isWatch("/apis/networking.k8s.io/v1/networkpolicies")));

    // makeInformer() has no fieldSelector parameter; ListWatch's constructor does (6th argument).
    server.create(pod("a", "mine"));
    server.create(pod("a", "other", { spec: { nodeName: "n2" } }));
    const lw = track(
      new k8s.ListWatch<k8s.V1Pod>(
        "/api/v1/pods",
        new k8s.Watch(kc),
        () => core.listPodForAllNamespaces({ fieldSelector: "spec.nodeName=n1" }),
        false,
        undefined,
        "spec.nodeName=n1",
      ),
    );
    const lrec = recordInformer(lw);
    await lw.start();
    await server.waitForWatch((w) => w.query.fieldSelector === "spec.nodeName=n1");
    const other = server.get("Pod", "a", "other")!;
    (other.spec as { nodeName: string }).nodeName = "n1";
    server.update(other); // starts matching: the watch sends ADDED
    const mine = server.get("Pod", "a", "mine")!;
    (mine.spec as { nodeName: string }).nodeName = "n3";
    server.update(mine); // stops matching: the watch sends DELETED
    await waitFor(() => lrec.events.length === 3, "3 filtered events");
    assert.deepEqual(lrec.events, ["add a/mine", "add a/other", "delete a/mine"]);
  });

  test("watch resumes from a resourceVersion (raw Watch, and informer after a clean stream end)", T, async (t) => {
    const { server, kc, core, track } = await env(t);
    const rv1 = server.create(pod("a", "p1")).metadata!.resourceVersion!;
    server.create(pod("a", "p2"));
    server.create(pod("a", "p3"));
    server.delete("Pod", "a", "p2");

    const seen: string[] = [];
    let doneErr: unknown = "not called";
    const ctl = await new k8s.Watch(kc).watch(
      "/api/v1/namespaces/a/pods",
      { resourceVersion: rv1 },
      (type, obj: k8s.V1Pod) => seen.push(`${type} ${obj.metadata?.name} ${obj.metadata?.resourceVersion}`),
      (err) => {
        doneErr = err;
      },
    );
    await waitFor(() => seen.length === 3, "3 replayed events");
    assert.deepEqual(seen, ["ADDED p2 102", "ADDED p3 103", "DELETED p2 104"]);
    server.create(pod("a", "p5"));
    await waitFor(() => seen.length === 4, "live event");
    assert.equal(seen[3], "ADDED p5 105");
    ctl.abort();
    await waitFor(() => doneErr !== "not called", "watch done");

    // Informer: a clean end of the stream (server-side timeout) makes it re-watch from its last RV, no relist.
    const inf = track(k8s.makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces()));
    const rec = recordInformer(inf);
    await inf.start();
    await server.waitForWatch();
    const mark = server.mark();
    const lastRv = rvOf(inf);
    assert.equal(server.endWatches(), 1);
    server.create(pod("a", "p6")); // happens while the informer is between two watches
    const rewatch = await server.waitForRequest(isWatch("/api/v1/pods"), { since: mark });
    assert.equal(rewatch.query.resourceVersion, lastRv);
    await waitFor(() => rec.events.includes("add a/p6"), "p6 via the replayed history");
    assert.equal(server.requests.slice(mark).filter(isList("/api/v1/pods")).length, 0, "no relist");
    assert.equal(rec.errors.length, 0);
    assert.equal(rec.connects, 2);
  });

  test(
    "bookmarks: only when asked (allowWatchBookmarks), periodic or triggered; informer takes the RV",
    T,
    async (t) => {
      const { server, kc, core, track } = await env(t, { bookmarkIntervalMs: 40 });
      server.create(pod("a", "p1"));
      const withBm: Array<[string, string | undefined]> = [];
      const without: string[] = [];
      const w = new k8s.Watch(kc);
      const c1 = await w.watch(
        "/api/v1/pods",
        { resourceVersion: String(server.resourceVersion), allowWatchBookmarks: true },
        (type, obj: k8s.KubernetesObject) => withBm.push([type, obj.metadata?.resourceVersion]),
        () => {},
      );
      const c2 = await w.watch(
        "/api/v1/pods",
        { resourceVersion: String(server.resourceVersion) },
        (type) => without.push(type),
        () => {},
      );
      t.after(() => {
        c1.abort();
        c2.abort();
      });
      await server.waitForWatch((x) => !x.bookmarks);
      server.create({ kind: "Node", metadata: { name: "n1" } }); // bumps the global RV, no pod event
      assert.equal(server.bookmark(), 1, "only the watch with allowWatchBookmarks=true gets one");
      await waitFor(() => withBm.length >= 1, "triggered bookmark");
      assert.deepEqual(withBm[0], ["BOOKMARK", String(server.resourceVersion)]);
      await waitFor(() => withBm.length >= 3, "periodic bookmarks");
      assert.ok(withBm.every(([type]) => type === "BOOKMARK"));
      assert.deepEqual(without, []);

      // client-node's informer never asks for bookmarks; force them to show that a BOOKMARK only moves its RV.
      server.bookmarksWithoutRequest = true;
      const lastId = Math.max(...server.openWatches().map((x) => x.id));
      const inf = track(k8s.makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces()));
      const rec = recordInformer(inf);
      await inf.start();
      const watch = await server.waitForWatch((x) => x.id > lastId);
      assert.equal(watch.bookmarks, false, "informer did not send allowWatchBookmarks");
      server.create({ kind: "Node", metadata: { name: "n2" } });
      const target = String(server.resourceVersion);
      server.bookmark();
      await waitFor(() => rvOf(inf) === target, "informer RV taken from the bookmark");
      const mark = server.mark();
      server.endWatches();
      const rewatch = await server.waitForRequest(isWatch("/api/v1/pods"), { since: mark });
      assert.equal(rewatch.query.resourceVersion, target);
      assert.deepEqual(rec.events, ["add a/p1"]);
    },
  );

  test("410 Gone: in-stream ERROR and HTTP 410 both make the informer relist and diff", T, async (t) => {
    const { server, kc } = await env(t);

    // Raw Watch: the in-stream form is one ERROR event with a Status, then the stream ends cleanly.
    server.create(pod("a", "x"));
    server.compactHistory();
    const got: Array<[string, k8s.V1Status]> = [];
    let done: unknown = "pending";
    await new k8s.Watch(kc).watch(
      "/api/v1/pods",
      { resourceVersion: "100" },
      (type, obj: k8s.V1Status) => got.push([type, obj]),
      (err) => {
        done = err;
      },
    );
    await waitFor(() => done !== "pending", "stream end after 410");
    assert.equal(done, null, "done(null): a clean end, not an error");
    assert.equal(got[0]![0], "ERROR");
    assert.equal(got[0]![1].code, 410);
    assert.equal(got[0]![1].reason, "Expired");
    assert.match(String(got[0]![1].message), /too old resource version/);

    for (const mode of ["event", "http"] as const) {
      // A fresh server per mode, so nothing left over from the first round can interfere.
      const { server, kc, core, track } = await env(t, { tooOldMode: mode });
      server.create(pod("a", "p1"));
      server.create(pod("a", "p2"));
      const inf = track(k8s.makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces()));
      const rec = recordInformer(inf);
      await inf.start();
      await server.waitForWatch();
      const oldRv = rvOf(inf);
      await inf.stop();
      await waitFor(() => server.openWatches().length === 0, "watch closed");
      // Pitfall: stop() aborts the watch, and the abort reaches the ERROR callbacks.
      await waitFor(() => rec.errors.length === 1, "AbortError after stop()");
      assert.equal((rec.errors[0] as Error).name, "AbortError");
      // Changes the informer misses, and the history that could replay them is gone.
      server.delete("Pod", "a", "p1");
      server.create(pod("a", "p3"));
      const p2 = server.get("Pod", "a", "p2")!;
      server.compactHistory();
      const mark = server.mark();
      await inf.start();
      await waitFor(() => rec.events.includes("add a/p3"), `relist (${mode})`);
      const after = server.requests
        .slice(mark)
        .map((r) => `${r.watch ? "WATCH" : "LIST"} ${r.query.resourceVersion ?? ""} ${r.status}`);
      assert.deepEqual(after.slice(0, 2), [`WATCH ${oldRv} ${mode === "http" ? 410 : 200}`, "LIST  200"], mode);
      await server.waitForWatch((w) => w.startResourceVersion === String(server.resourceVersion));
      // The relist diff: p1 deleted, p3 added, p2 unchanged (same RV, so no update).
      assert.deepEqual(rec.events, ["add a/p1", "add a/p2", "delete a/p1", "add a/p3"], mode);
      assert.equal(inf.get("p2", "a")?.metadata?.resourceVersion, p2.metadata!.resourceVersion);
      assert.equal(rec.errors.length, 1, `no ERROR callback for a 410 (${mode})`);
    }
  });

  test("pitfall: informer.stop() during an automatic re-watch leaves that watch open", T, async (t) => {
    const { server, kc, core, track } = await env(t);
    const inf = track(k8s.makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces()));
    const rec = recordInformer(inf);
    await inf.start();
    const first = await server.waitForWatch();
    server.endWatches(); // the informer re-watches by itself (not awaited by anyone)
    await server.waitForWatch((w) => w.id > first.id);
    await inf.stop(); // the re-watch's response has not reached the client yet: nothing to abort
    await sleep(50);
    assert.equal(server.openWatches().length, 1, "the new watch is still open after stop()");
    server.create(pod("a", "late"));
    await waitFor(() => rec.events.includes("add a/late"), "event delivered after stop()");
    // Workaround: once the request handle is set, a second stop() aborts it.
    await watchEstablished(inf);
    await inf.stop();
    await waitFor(() => server.openWatches().length === 0, "watch closed by the second stop()");
  });

  test("dropWatches: the informer fires ERROR and stops for good; start() resumes from its RV", T, async (t) => {
    const { server, kc, core, track } = await env(t);
    server.create(pod("a", "p1"));
    const inf = track(k8s.makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces()));
    const rec = recordInformer(inf);
    await inf.start();
    await server.waitForWatch();
    const rv = rvOf(inf);
    const mark = server.mark();
    assert.equal(server.dropWatches(), 1);
    await waitFor(() => rec.errors.length === 1, "ERROR callback");
    assert.equal((rec.errors[0] as NodeJS.ErrnoException).code, "ECONNRESET");
    server.create(pod("a", "p2"));
    await sleep(150);
    assert.equal(server.requests.length, mark, "no reconnect on its own");
    assert.equal(server.openWatches().length, 0);

    await inf.start();
    const w = await server.waitForWatch();
    assert.equal(w.startResourceVersion, rv, "re-watch from the kept RV");
    assert.equal(server.requests.slice(mark).filter(isList("/api/v1/pods")).length, 0, "no relist");
    await waitFor(() => rec.events.includes("add a/p2"), "missed event replayed");
  });

  test(
    "PATCH nodes/status with strategic merge keeps other conditions; json-patch is the client default",
    T,
    async (t) => {
      const { server, kc, core } = await env(t);
      const hb = "2024-01-01T00:00:00Z";
      server.create({
        kind: "Node",
        metadata: { name: "n1", labels: { a: "1" } },
        spec: { podCIDR: "10.0.1.0/24" },
        status: {
          conditions: [
            { type: "Ready", status: "True", reason: "KubeletReady", lastHeartbeatTime: hb },
            { type: "MemoryPressure", status: "False", reason: "KubeletHasSufficientMemory" },
          ],
          addresses: [{ type: "InternalIP", address: "192.168.0.1" }],
        },
      });
      const events: string[] = [];
      const ctl = await new k8s.Watch(kc).watch(
        "/api/v1/nodes",
        { resourceVersion: String(server.resourceVersion) },
        (type, obj: k8s.V1Node) => events.push(`${type} ${obj.metadata?.name}`),
        () => {},
      );
      t.after(() => ctl.abort());
      await server.waitForWatch();
      const rvBefore = server.get("Node", "n1")!.metadata!.resourceVersion;

      const smp = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch);
      const patched = await core.patchNodeStatus(
        {
          name: "n1",
          body: {
            status: {
              conditions: [
                {
                  type: "NetworkUnavailable",
                  status: "False",
                  reason: "CalicoIsUp",
                  message: "Calico is running on this node",
                  lastTransitionTime: hb,
                  lastHeartbeatTime: hb,
                },
                { type: "Ready", status: "False", reason: "Testing" },
              ],
            },
            spec: { podCIDR: "ignored/0" },
          },
        },
        smp,
      );
      const req = server.requests.at(-1)!;
      assert.equal(req.method, "PATCH");
      assert.equal(req.path, "/api/v1/nodes/n1/status");
      assert.equal(req.headers["content-type"], "application/strategic-merge-patch+json");
      assert.equal((req.body as { status: { conditions: unknown[] } }).status.conditions.length, 2);

      const stored = server.get("Node", "n1")!;
      const conds = (stored.status as { conditions: Array<Record<string, string>> }).conditions;
      assert.deepEqual(
        conds.map((c) => `${c.type}=${c.status}`),
        ["Ready=False", "MemoryPressure=False", "NetworkUnavailable=False"],
      );
      assert.equal(conds[0]!.lastHeartbeatTime, hb, "merged into the existing Ready condition");
      assert.equal(conds[2]!.reason, "CalicoIsUp");
      assert.equal((stored.spec as { podCIDR: string }).podCIDR, "10.0.1.0/24", "status subresource ignores spec");
      assert.equal((stored.status as { addresses: unknown[] }).addresses.length, 1);
      assert.ok(Number(stored.metadata!.resourceVersion) > Number(rvBefore));
      assert.equal(patched.status?.conditions?.length, 3);
      await waitFor(() => events.length === 1, "MODIFIED event");
      assert.deepEqual(events, ["MODIFIED n1"]);

      // The same patch again is a no-op: no new resourceVersion, no watch event.
      const rvNow = server.resourceVersion;
      await core.patchNodeStatus(
        { name: "n1", body: { status: { conditions: [{ type: "Ready", status: "False" }] } } },
        smp,
      );
      assert.equal(server.resourceVersion, rvNow);

      // Without the header, client-node 1.4.0 picks the FIRST patch type: application/json-patch+json.
      await core.patchNodeStatus({
        name: "n1",
        body: [{ op: "replace", path: "/status/conditions/1/status", value: "True" }],
      });
      assert.equal(server.requests.at(-1)!.headers["content-type"], "application/json-patch+json");
      const c1 = (server.get("Node", "n1")!.status as { conditions: Array<{ status: string }> }).conditions[1]!;
      assert.equal(c1.status, "True");
    },
  );

  test("POST core/v1 event is recorded and stored", T, async (t) => {
    const { server, core } = await env(t);
    const created = await core.createNamespacedEvent({
      namespace: "kube-system",
      body: {
        metadata: { generateName: "felix-", namespace: "kube-system" },
        involvedObject: { kind: "Node", name: "n1", apiVersion: "v1" },
        reason: "FelixStarted",
        message: "hello",
        type: "Normal",
        source: { component: "felix", host: "n1" },
      },
    });
    assert.match(created.metadata?.name ?? "", /^felix-[a-z0-9]{5}$/);
    const req = server.requests.at(-1)!;
    assert.equal(req.method, "POST");
    assert.equal(req.path, "/api/v1/namespaces/kube-system/events");
    assert.equal(req.status, 201);
    assert.equal((req.body as { reason: string }).reason, "FelixStarted");
    assert.equal(req.headers["content-type"], "application/json");
    const stored = server.list("Event", "kube-system");
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.message, "hello");
    await assert.rejects(
      core.createNamespacedEvent({
        namespace: "x",
        body: { metadata: { namespace: "y", name: "e" }, involvedObject: {} },
      }),
      (e: unknown) => (e as k8s.ApiException<unknown>).code === 400,
    );
  });

  test(
    "stop()/start(): refused while down, same port and state after; the informer needs start() again",
    T,
    async (t) => {
      const { server, kc, core, track } = await env(t);
      server.create(pod("a", "p1"));
      const port = server.port;
      const inf = track(k8s.makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces()));
      const rec = recordInformer(inf);
      await inf.start();
      await server.waitForWatch();
      const rv = rvOf(inf);

      await server.stop();
      await waitFor(() => rec.errors.length === 1, "ERROR on server going away");
      await assert.rejects(core.listNamespace(), (e: unknown) => /ECONNREFUSED/.test(String((e as Error).message)));
      server.create(pod("a", "p2")); // state changes while the server is down

      await server.start();
      assert.equal(server.port, port);
      const pods = await core.listPodForAllNamespaces();
      assert.deepEqual(
        pods.items.map((p) => p.metadata?.name),
        ["p1", "p2"],
      );
      assert.equal(pods.metadata?.resourceVersion, String(server.resourceVersion));
      assert.equal(server.openWatches().length, 0, "informer did not come back on its own");

      await inf.start();
      const w = await server.waitForWatch();
      assert.equal(w.startResourceVersion, rv);
      await waitFor(() => rec.events.includes("add a/p2"), "p2 replayed after restart");
    },
  );

  test("HTTP writes (PUT conflict, DELETE), bounded history, injected faults, token check", T, async (t) => {
    const { server, kc, core, track } = await env(t, { historySize: 3 });
    const p1 = server.create(pod("a", "p1"));
    const startRv = p1.metadata!.resourceVersion!;

    // PUT with a stale resourceVersion: 409; with the current one: 200 and a new RV.
    const cur = await core.readNamespacedPod({ namespace: "a", name: "p1" });
    server.update({ ...p1, metadata: { ...p1.metadata, labels: { v: "2" } } });
    await assert.rejects(core.replaceNamespacedPod({ namespace: "a", name: "p1", body: cur }), (e: unknown) => {
      return (e as k8s.ApiException<unknown>).code === 409;
    });
    const fresh = await core.readNamespacedPod({ namespace: "a", name: "p1" });
    fresh.metadata!.labels = { v: "3" };
    const replaced = await core.replaceNamespacedPod({ namespace: "a", name: "p1", body: fresh });
    assert.equal(replaced.metadata?.labels?.v, "3");
    await core.deleteNamespacedPod({ namespace: "a", name: "p1" });
    assert.equal(server.get("Pod", "a", "p1"), undefined);
    assert.equal(server.requests.at(-1)!.method, "DELETE");

    // History of 3 events: p1's creation RV is now out of the window.
    server.create(pod("a", "p2"));
    const got: string[] = [];
    await new k8s.Watch(kc).watch(
      "/api/v1/pods",
      { resourceVersion: startRv },
      (type, obj: k8s.V1Status) => got.push(`${type} ${obj.code ?? ""}`),
      () => {},
    );
    await waitFor(() => got.length === 1, "410 from the bounded history");
    assert.deepEqual(got, ["ERROR 410"]);

    // An injected 500 on the LIST: ERROR callback, and the informer does not retry by itself.
    server.injectFault({ method: "GET", path: "/api/v1/pods", watch: false, status: 500 });
    const inf = track(k8s.makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces()));
    const rec = recordInformer(inf);
    await inf.start();
    assert.equal(rec.errors.length, 1);
    assert.equal((rec.errors[0] as k8s.ApiException<unknown>).code, 500);
    assert.equal(server.openWatches().length, 0);
    await inf.start(); // the fault was for one request only
    assert.deepEqual(rec.events, ["add a/p2"]);

    // requireToken: a wrong token gets 401.
    const strict = await startFakeApiServer({ requireToken: "right" });
    t.after(() => strict.close());
    const kcWrong = new k8s.KubeConfig();
    kcWrong.loadFromOptions(kubeConfigObject(strict, { token: "wrong" }));
    await assert.rejects(kcWrong.makeApiClient(k8s.CoreV1Api).listNamespace(), (e: unknown) => {
      return (e as k8s.ApiException<unknown>).code === 401;
    });
    const kcRight = new k8s.KubeConfig();
    kcRight.loadFromOptions(kubeConfigObject(strict, { token: "right" }));
    assert.deepEqual((await kcRight.makeApiClient(k8s.CoreV1Api).listNamespace()).items, []);
  });

  // Behaviour, not elapsed time: the stream stays open and delivers events made after it
  // began, one after the other, then ends cleanly by itself (we never abort it), and the
  // server got the timeout.
  test("timeoutSeconds ends the watch stream cleanly", { timeout: 10_000 }, async (t) => {
    const { server, kc } = await env(t);
    let done: unknown = "pending";
    const seen: string[] = [];
    await new k8s.Watch(kc).watch(
      "/api/v1/namespaces/a/pods",
      { timeoutSeconds: 2, resourceVersion: String(server.resourceVersion) },
      (type, obj: k8s.KubernetesObject) => {
        seen.push(`${type} ${obj.metadata?.name}`);
      },
      (err) => {
        done = err;
      },
    );
    server.create(pod("a", "first"));
    await waitFor(() => seen.length === 1, "the first event", 5000);
    assert.equal(done, "pending", "the stream ended after one event");
    server.create(pod("a", "second"));
    await waitFor(() => seen.length === 2, "the second event", 5000);
    await waitFor(() => done !== "pending", "the stream's end", 5000);
    assert.equal(done, null);
    assert.deepEqual(seen, ["ADDED first", "ADDED second"]);
    assert.equal(server.requests[0]!.query.timeoutSeconds, "2");
  });

  test("patch helpers", () => {
    const orig = {
      metadata: { labels: { a: "1", b: "2" } },
      status: {
        conditions: [
          { type: "A", status: "True" },
          { type: "B", status: "False" },
        ],
      },
    };
    const out = strategicMerge(orig, {
      metadata: { labels: { b: null, c: "3" } },
      status: {
        "$setElementOrder/conditions": [{ type: "B" }, { type: "A" }],
        conditions: [
          { type: "A", status: "False" },
          { type: "C", $patch: "delete" },
        ],
      },
    });
    assert.deepEqual(out, {
      metadata: { labels: { a: "1", c: "3" } },
      status: {
        conditions: [
          { type: "B", status: "False" },
          { type: "A", status: "False" },
        ],
      },
    });
    assert.deepEqual(
      jsonPatch({ a: [1, 2] }, [
        { op: "add", path: "/a/-", value: 3 },
        { op: "remove", path: "/a/0" },
        { op: "add", path: "/b", value: { c: 1 } },
      ]),
      { a: [2, 3], b: { c: 1 } },
    );
  });
});
