// The Kubernetes datastore against the fake API server, with the real client
// library: the in-sync barrier, updates of each kind, recovery from 410, from
// dropped watches and from the API server going away, and the same
// DesiredState as the file datastore for the same objects.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import type { Subscription } from "rxjs";
import { CalcGraph, type GraphConfig } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { servicePortIds } from "../../../calc-graph/services/port-shards.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { chainNames, chainOf } from "../../../model/tables.js";
import { KubernetesDatastore } from "../../../src/datastore/kubernetes.js";
import { caseNames, loadGoldenCase } from "../../golden-cases.js";
import { type FakeApiServer, kubeConfigObject, startFakeApiServer } from "../../helpers/fake-apiserver.js";

const log = pino({ level: "silent" });

/** A running datastore feeding a graph; `batches` records what it emitted. */
class Harness {
  readonly graph: CalcGraph;
  readonly batches: ResourceUpdate[][] = [];
  private readonly sub: Subscription;
  state: DesiredState;

  constructor(server: FakeApiServer, cfg: GraphConfig = { nodeName: "node1" }) {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions(kubeConfigObject(server));
    this.graph = new CalcGraph(cfg);
    this.state = this.graph.current;
    this.sub = new KubernetesDatastore({ kubeConfig: kc, log, batchMs: 2, minBackoffMs: 20, maxBackoffMs: 200 })
      .updates()
      .subscribe((b) => {
        this.batches.push(b);
        this.state = this.graph.apply(b);
      });
  }

  async until(pred: (s: DesiredState) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const t0 = Date.now();
    while (!pred(this.state)) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.sub.unsubscribe();
  }
}

const ns = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, labels },
});
const pod = (namespace: string, name: string, ip: string, labels: Record<string, string> = {}, nodeName = "node1") => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace, labels },
  spec: { nodeName, containers: [{ name: "c" }] },
  status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
});
const denyAll = (namespace: string, name = "deny") => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name, namespace },
  spec: { podSelector: {}, policyTypes: ["Ingress"] },
});

/** The state with each problem's source (file and line of a manifest) left out. */
const withoutSources = (s: DesiredState): DesiredState => ({
  ...s,
  problems: Object.fromEntries(Object.entries(s.problems).map(([k, { source: _, ...p }]) => [k, p])),
});

const policyChains = (s: DesiredState) => chainNames(s.iptables.ipv4.filter).filter((c) => c.startsWith("cali-pi-"));

describe("KubernetesDatastore", () => {
  let server: FakeApiServer;
  before(async () => {
    server = await startFakeApiServer();
  });
  after(async () => {
    await server.close();
  });

  test("emits nothing until every kind is listed, then the whole cluster in one batch", async () => {
    server.create(ns("a"));
    server.create(pod("a", "p1", "10.65.1.2"));
    server.injectFault({
      method: "GET",
      path: "/apis/networking.k8s.io/v1/networkpolicies",
      watch: false,
      status: 500,
      times: 3,
    });
    const h = new Harness(server);
    try {
      await h.until((s) => s.endpoints["a/p1"] !== undefined, "the first batch");
      assert.equal(h.batches.length, 1, "one batch: the in-sync point");
      const kinds = new Set(h.batches[0].map((u) => u.kind));
      assert.ok(kinds.has("Namespace") && kinds.has("Pod"));
    } finally {
      h.close();
      server.clearFaults();
      server.delete("Pod", "a", "p1");
      server.delete("Namespace", "a");
    }
  });

  test("add, update and delete of each kind reach the DesiredState", async () => {
    const h = new Harness(server);
    try {
      await h.until(() => h.batches.length > 0, "in sync");
      server.create(ns("b", { team: "x" }));
      server.create(pod("b", "web", "10.65.1.3", { app: "web" }));
      await h.until((s) => s.endpoints["b/web"] !== undefined, "pod added");
      server.create(denyAll("b"));
      await h.until((s) => s.endpoints["b/web"].ingressPolicies.length === 1, "policy added");
      server.update({ ...pod("b", "web", "10.65.1.4", { app: "web" }) });
      await h.until((s) => s.endpoints["b/web"].ipv4Nets[0] === "10.65.1.4/32", "pod updated");
      server.create({
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: "sa1", namespace: "b", labels: { role: "x" } },
      });
      server.create({
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: "node2" },
        spec: { podCIDR: "10.65.2.0/24" },
        status: { addresses: [{ type: "InternalIP", address: "172.18.0.2" }] },
      });
      await h.until((s) => s.routes["10.65.2.0/24"]?.gateway === "172.18.0.2", "node route");
      server.create({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "s", namespace: "b" },
        spec: { ports: [{ port: 80 }] },
      });
      server.create({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "s-1", namespace: "b" },
        addressType: "IPv4",
        endpoints: [],
      });
      await h.until(() => h.batches.some((b) => b.some((u) => u.kind === "EndpointSlice")), "endpoint slice");
      server.delete("NetworkPolicy", "b", "deny");
      await h.until((s) => s.endpoints["b/web"].ingressPolicies.length === 0, "policy deleted");
      server.delete("Node", "node2");
      await h.until((s) => s.routes["10.65.2.0/24"] === undefined, "node deleted");
      server.delete("Pod", "b", "web");
      await h.until((s) => s.endpoints["b/web"] === undefined, "pod deleted");
    } finally {
      h.close();
    }
  });

  test("a 410 relists and emits only the difference: unchanged chains keep their identity", async () => {
    server.create(ns("c"));
    server.create(pod("c", "p", "10.65.1.5"));
    server.create(denyAll("c"));
    const h = new Harness(server);
    try {
      await h.until((s) => policyChains(s).length === 1, "programmed");
      const before = h.state;
      const n = h.batches.length;
      server.compactHistory();
      server.create(pod("c", "q", "10.65.1.6"));
      server.compactHistory();
      server.endWatches(); // the watch ends; resuming from its resourceVersion gets 410; the informer relists
      await h.until((s) => s.endpoints["c/q"] !== undefined, "change made during the outage");
      const later = h.batches.slice(n).flat();
      assert.ok(
        later.every((u) => u.name === "q"),
        `only the new pod came through: ${later.map((u) => u.name)}`,
      );
      const chain = policyChains(before)[0];
      assert.equal(chainOf(h.state.iptables.ipv4.filter, chain), chainOf(before.iptables.ipv4.filter, chain));
    } finally {
      h.close();
    }
  });

  // The bench's suspected lost write: a write that lands after a kind's LIST
  // but before its WATCH is open must still come through, because the watch
  // starts from the LIST's resourceVersion (as client-go's reflector does) and
  // the API server replays every event after it.
  test("a write between a kind's LIST and its WATCH is not lost: the watch resumes from the LIST's resourceVersion", async () => {
    server.create(ns("e"));
    server.create(pod("e", "before", "10.65.1.9"));
    const mark = server.mark();
    // Pod WATCHes fail until the write is made: the informer has listed, its watch is not open.
    // (Every Pod WATCH: an informer of an earlier, closed harness may still send one.)
    server.injectFault({ method: "GET", path: "/api/v1/pods", watch: true, status: 500, times: Infinity });
    const h = new Harness(server);
    try {
      const isPods = (r: { path: string }) => r.path === "/api/v1/pods";
      await server.waitForRequest((r) => isPods(r) && !r.watch, { since: mark });
      const listed = server.requests.findIndex((r, i) => i >= mark && isPods(r) && !r.watch);
      const failed = await server.waitForRequest((r) => isPods(r) && r.watch && r.status === 500, { since: listed });
      assert.equal(failed.status, 500);
      server.create(pod("e", "between", "10.65.1.10"));
      const written = server.resourceVersion;
      server.clearFaults();
      await h.until((s) => s.endpoints["e/between"] !== undefined, "the pod written between LIST and WATCH");
      assert.ok(h.state.endpoints["e/before"]);
      const resumed = server.requests.slice(listed).filter((r) => isPods(r) && r.watch && r.status === 200)[0];
      assert.ok(
        Number(resumed.query.resourceVersion) < written,
        `the watch resumed from the list's resourceVersion (${resumed.query.resourceVersion}), before the write (${written})`,
      );
      assert.equal(
        server.requests.slice(listed).filter((r) => isPods(r) && !r.watch).length,
        1,
        "no relist: the watch replayed the write",
      );
    } finally {
      h.close();
      server.clearFaults();
    }
  });

  test("a write to a listed kind while another kind is still listing is in the first batch", async () => {
    server.create(ns("f"));
    const mark = server.mark();
    // NetworkPolicy's LIST fails twice: the barrier holds while Pods are listed and watched.
    server.injectFault({
      method: "GET",
      path: "/apis/networking.k8s.io/v1/networkpolicies",
      watch: false,
      status: 500,
      times: 2,
    });
    const h = new Harness(server);
    try {
      await server.waitForWatch((w) => w.kind === "Pod");
      await server.waitForRequest((r) => r.path.endsWith("/networkpolicies") && r.status === 500, { since: mark });
      assert.equal(h.batches.length, 0, "not in sync yet");
      server.create(pod("f", "late", "10.65.1.11"));
      await h.until((s) => s.endpoints["f/late"] !== undefined, "the pod written before the in-sync point");
    } finally {
      h.close();
      server.clearFaults();
    }
  });

  test("dropped watches and an API server that goes away and comes back end in the right state", async () => {
    server.create(ns("d"));
    const h = new Harness(server);
    try {
      await h.until(() => h.batches.length > 0, "in sync");
      server.dropWatches();
      server.create(pod("d", "a", "10.65.1.7"));
      await h.until((s) => s.endpoints["d/a"] !== undefined, "recovered from a reset");
      await server.stop();
      await new Promise((r) => setTimeout(r, 100));
      server.create(pod("d", "b", "10.65.1.8"));
      server.delete("Pod", "d", "a");
      await server.start();
      await h.until(
        (s) => s.endpoints["d/b"] !== undefined && s.endpoints["d/a"] === undefined,
        "caught up after the outage",
      );
    } finally {
      h.close();
    }
  });

  // Every golden case, malformed ones included, with the case's proxy mode; the
  // whole DesiredState (endpoints, routes, sysctls, services, IPVS, problems,
  // network), not only the rendered tables. The one difference by design: a
  // problem's source (manifest file and line), which only the file datastore has.
  test("the file and Kubernetes datastores give the same whole DesiredState on every golden case", async () => {
    const names = caseNames();
    assert.ok(names.length > 0, "no golden cases");
    // Cases where the comparison covered these (calico, cnp: a Calico policy or ClusterNetworkPolicy in force, read from its CRD).
    const seen = { services: 0, problems: 0, network: 0, calico: 0, hostEndpoints: 0, cnp: 0 };
    for (const name of names) {
      const { cfg, updates } = await loadGoldenCase(name);
      const fromFiles = new CalcGraph(cfg).apply(updates);
      const api = await startFakeApiServer();
      try {
        for (const u of updates) api.create(u.value as object);
        const h = new Harness(api, cfg);
        try {
          await h.until(() => h.batches.length > 0, `${name}: in sync`);
          const [fromApi, fromDir] = [withoutSources(h.state), withoutSources(fromFiles)];
          for (const p of Object.values(h.state.problems)) assert.equal(p.source, undefined);
          const keys = new Set([...Object.keys(fromApi), ...Object.keys(fromDir)]) as Set<keyof DesiredState>;
          for (const k of keys) {
            assert.deepStrictEqual(fromApi[k], fromDir[k], `${name}: the datastores disagree on ${k}`);
          }
          assert.deepStrictEqual(fromApi, fromDir, `${name}: the datastores disagree`);
          if (servicePortIds(fromDir.services).length > 0) seen.services++;
          if (Object.keys(fromDir.problems).length > 0) seen.problems++;
          if (fromDir.network.poolsInUse) seen.network++;
          const calicoKey = /^(np|gnp)\//;
          if (Object.values(fromApi.endpoints).some((e) => e.ingressPolicies.some((k) => calicoKey.test(k)))) {
            seen.calico++;
          }
          if (Object.keys(fromDir.hostEndpoints ?? {}).length > 0) seen.hostEndpoints++;
          if (Object.values(fromApi.endpoints).some((e) => e.ingressPolicies.some((k) => k.startsWith("kcnp/")))) {
            seen.cnp++;
          }
        } finally {
          h.close();
        }
      } finally {
        await api.close();
      }
    }
    for (const [what, n] of Object.entries(seen))
      assert.ok(n > 0, `no golden case has ${what}: the check is empty there`);
  });
});
