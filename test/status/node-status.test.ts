import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pino } from "pino";
import { computeDesiredState } from "../../calc-graph/calc-graph.js";
import {
  type CoreEvent,
  kubernetesStatusApi,
  NodeStatusReporter,
  podProblems,
  type StatusApi,
} from "../../status/node-status.js";
import { namespace, pod, policy, update } from "../calc-graph/fixtures.js";

class FakeApi implements StatusApi {
  patches: { name: string; patch: object }[] = [];
  events: { namespace: string; event: CoreEvent }[] = [];
  failPatches = 0;
  async patchNodeStatus(name: string, patch: object) {
    if (this.failPatches-- > 0) throw new Error("connection refused");
    this.patches.push({ name, patch });
  }
  async createEvent(namespace: string, event: CoreEvent) {
    this.events.push({ namespace, event });
  }
}

const log = pino({ level: "silent" });
const badPolicy = policy("prod", "bad", {
  podSelector: { matchLabels: { app: "web" } },
  ingress: [{ ports: [{ port: 0 }] }],
});
const base = [namespace("prod"), pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } })];

describe("podProblems with Calico policies", () => {
  const calico = (kind: "GlobalNetworkPolicy" | "CalicoNetworkPolicy", name: string, ns: string, ingress: object[]) =>
    update(kind, ns, name, {
      metadata: { name, ...(ns ? { namespace: ns } : {}) },
      spec: { selector: "app == 'web'", ingress },
    });

  test("a global or namespaced Calico policy selecting a local pod: fine when valid, named when its rules fail", () => {
    const valid = [
      calico("GlobalNetworkPolicy", "g", "", [{ action: "Allow" }]),
      calico("CalicoNetworkPolicy", "n", "prod", []),
    ];
    assert.deepEqual([...podProblems(computeDesiredState({ nodeName: "node1" }, [...base, ...valid])).entries()], []);
    const bad = [calico("GlobalNetworkPolicy", "g", "", [{ action: "Reject" }])];
    assert.deepEqual(
      [...podProblems(computeDesiredState({ nodeName: "node1" }, [...base, ...bad])).entries()].map(([k, m]) => [
        k,
        m.split(":")[0],
      ]),
      [["prod/web", "GlobalNetworkPolicy g"]],
    );
    const badNp = [
      calico("CalicoNetworkPolicy", "n", "prod", [
        { action: "Allow", protocol: "TCP", destination: { ports: [0, 70000] } },
      ]),
    ];
    assert.match(
      podProblems(computeDesiredState({ nodeName: "node1" }, [...base, ...badNp])).get("prod/web") ?? "",
      /^NetworkPolicy prod\/n: /,
    );
  });
});

describe("podProblems with ClusterNetworkPolicies", () => {
  test("an invalid CNP (fails closed) selecting a local pod is named on it; a valid one is not", () => {
    const cnp = (priority: number) =>
      update("ClusterNetworkPolicy", "", "guard", {
        metadata: { name: "guard" },
        spec: {
          tier: "Baseline",
          priority,
          subject: { namespaces: {} },
          ingress: [{ action: "Deny", from: [{ namespaces: {} }] }],
        },
      });
    assert.deepEqual([...podProblems(computeDesiredState({ nodeName: "node1" }, [...base, cnp(5)])).keys()], []);
    const msg = podProblems(computeDesiredState({ nodeName: "node1" }, [...base, cnp(5000)])).get("prod/web") ?? "";
    assert.match(msg, /^ClusterNetworkPolicy guard: spec\.priority .*fails closed/);
  });
});

describe("NodeStatusReporter", () => {
  test("sets NetworkUnavailable=False once, retrying after a failure", async () => {
    const api = new FakeApi();
    api.failPatches = 1;
    const r = new NodeStatusReporter(api, "node1", log, () => new Date("2026-01-01T00:00:00Z"));
    const s = computeDesiredState({ nodeName: "node1" }, base);
    await r.programmed(s);
    assert.equal(api.patches.length, 0);
    await r.programmed(s);
    await r.programmed(s);
    assert.equal(api.patches.length, 1);
    assert.deepEqual(api.patches[0], {
      name: "node1",
      patch: {
        status: {
          conditions: [
            {
              type: "NetworkUnavailable",
              status: "False",
              reason: "FelixTsIsUp",
              message: "felix-ts is running on this node",
              lastTransitionTime: "2026-01-01T00:00:00.000Z",
              lastHeartbeatTime: "2026-01-01T00:00:00.000Z",
            },
          ],
        },
      },
    });
  });

  test("raises one Warning event per local pod whose policy cannot be programmed", async () => {
    const api = new FakeApi();
    const r = new NodeStatusReporter(api, "node1", log);
    const s = computeDesiredState({ nodeName: "node1" }, [...base, badPolicy]);
    assert.deepEqual([...podProblems(s).keys()], ["prod/web"]);
    await r.programmed(s);
    await r.programmed(s);
    assert.equal(api.events.length, 1);
    const e = api.events[0];
    assert.equal(e.namespace, "prod");
    assert.deepEqual(e.event.involvedObject, { kind: "Pod", apiVersion: "v1", namespace: "prod", name: "web" });
    assert.equal(e.event.type, "Warning");
    assert.match(e.event.message ?? "", /NetworkPolicy prod\/bad: .*invalid port 0/);
  });

  test("raises a Warning event on both pods of an interface-name collision, naming the other", async () => {
    const api = new FakeApi();
    const r = new NodeStatusReporter(api, "node1", log);
    // red/p2272271 and red/p4484179 both hash to cali65e9ac57649.
    const s = computeDesiredState({ nodeName: "node1" }, [
      namespace("red"),
      pod("red", "p2272271", { ip: "10.65.1.2" }),
      pod("red", "p4484179", { ip: "10.65.1.3" }),
    ]);
    await r.programmed(s);
    const byPod = new Map(api.events.map((e) => [e.event.involvedObject.name, e.event]));
    assert.deepEqual([...byPod.keys()].sort(), ["p2272271", "p4484179"]);
    assert.match(byPod.get("p2272271")?.message ?? "", /interface name collision: .*cali65e9ac57649.*red\/p4484179/);
    assert.match(byPod.get("p4484179")?.message ?? "", /red\/p2272271/);
    assert.equal(byPod.get("p2272271")?.type, "Warning");
  });

  test("reports invalid pods of this node only", async () => {
    const s = computeDesiredState({ nodeName: "node1" }, [
      ...base,
      pod("prod", "mine", { ip: "10.65.1.300" }),
      pod("prod", "theirs", { node: "node2", ip: "10.65.2.300" }),
    ]);
    assert.deepEqual([...podProblems(s).keys()], ["prod/mine"]);
  });
});

describe("kubernetesStatusApi against the fake API server (raw requests)", () => {
  test("the strategic-merge PATCH keeps the other conditions; the event is created in the pod's namespace", async () => {
    const { startFakeApiServer } = await import("../helpers/fake-apiserver.js");
    const { kubeconfigFor } = await import("../helpers/kubeconfig.js");
    const { loadKubeAccess } = await import("../../src/datastore/kube-config.js");
    const server = await startFakeApiServer({ requireToken: "t0ken" });
    try {
      server.create({
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: "node1" },
        status: { conditions: [{ type: "Ready", status: "True" }] },
      });
      const reporter = new NodeStatusReporter(
        kubernetesStatusApi(await loadKubeAccess(kubeconfigFor(server, { token: "t0ken" }), {})),
        "node1",
        log,
      );
      await reporter.programmed(computeDesiredState({ nodeName: "node1" }, [...base, badPolicy]));
      const node = server.get("Node", undefined, "node1") as { status: { conditions: { type: string }[] } };
      assert.deepEqual(node.status.conditions.map((c) => c.type).sort(), ["NetworkUnavailable", "Ready"]);
      const events = server.list("Event", "prod") as { reason?: string; involvedObject?: { name?: string } }[];
      assert.deepEqual(
        events.map((e) => [e.reason, e.involvedObject?.name]),
        [["PolicyNotProgrammed", "web"]],
      );
    } finally {
      await server.close();
    }
  });
});
