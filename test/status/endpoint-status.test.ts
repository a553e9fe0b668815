import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { vethNameForWorkload } from "../../calc-graph/conversion/pod.js";
import type { ApplyResult } from "../../src/dataplane.js";
import { type EndpointStatusChange, EndpointStatusTracker } from "../../status/endpoint-status.js";
import { deleted, namespace, pod } from "../calc-graph/fixtures.js";

const ok: ApplyResult = {
  changes: 1,
  iptablesBytes: 0,
  ipsetBytes: 0,
  restoreMs: 0,
  routes: { added: 0, removed: 0, pending: 0 },
  sysctlsWritten: 0,
  warnings: [],
};

const web = pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } });
const db = pod("prod", "db", { ip: "10.65.1.11" });
const webIf = vethNameForWorkload("prod", "web");
const dbIf = vethNameForWorkload("prod", "db");

function setup() {
  let t = Date.parse("2026-01-01T00:00:00Z");
  const clock = {
    now: () => new Date(t),
    advance: (s: number) => {
      t += s * 1000;
    },
  };
  const graph = new CalcGraph({ nodeName: "node1" });
  const tracker = new EndpointStatusTracker({ now: clock.now });
  const changes: EndpointStatusChange[] = [];
  tracker.changes.subscribe((c) => changes.push(c));
  const brief = () => tracker.statuses().map((s) => [s.workload, s.status, s.reason]);
  return { graph, tracker, changes, clock, brief };
}

describe("EndpointStatusTracker", () => {
  test("down until programmed and its interface exists, then up", () => {
    const { graph, tracker, changes, clock, brief } = setup();
    const s1 = graph.apply([namespace("prod"), web]);
    tracker.setDesired(s1);
    assert.deepEqual(brief(), [["prod/web", "down", "interfaces not listed yet"]]);
    assert.equal(tracker.get("prod/web")!.iface, webIf);
    tracker.setInterfaces(["lo", "eth0"]);
    assert.deepEqual(brief(), [["prod/web", "down", `interface ${webIf} not present`]]);
    tracker.setInterfaces(["lo", "eth0", webIf]);
    assert.deepEqual(brief(), [["prod/web", "down", "policy not programmed yet"]]);
    const downSince = tracker.get("prod/web")!.since;
    assert.equal(downSince, "2026-01-01T00:00:00.000Z");

    clock.advance(2);
    tracker.applied(s1, ok);
    assert.deepEqual(brief(), [["prod/web", "up", "programmed"]]);
    assert.equal(tracker.get("prod/web")!.since, "2026-01-01T00:00:02.000Z");

    assert.deepEqual(
      changes.map((c) => [c.workload, c.previous?.status, c.current?.status]),
      [
        ["prod/web", undefined, "down"],
        ["prod/web", "down", "down"],
        ["prod/web", "down", "down"],
        ["prod/web", "down", "up"],
      ],
    );
    assert.equal(changes[1].current!.since, downSince, "a reason change keeps `since`");
  });

  test("an endpoint added during an apply stays down until an apply that includes it succeeds", () => {
    const { graph, tracker, brief } = setup();
    tracker.setInterfaces([webIf, dbIf]);
    const s1 = graph.apply([namespace("prod"), web]);
    tracker.setDesired(s1);
    const s2 = graph.apply([db]);
    tracker.setDesired(s2);
    tracker.applied(s1, ok);
    assert.deepEqual(brief(), [
      ["prod/db", "down", "policy not programmed yet"],
      ["prod/web", "up", "programmed"],
    ]);
    tracker.applied(s2, ok);
    assert.deepEqual(brief(), [
      ["prod/db", "up", "programmed"],
      ["prod/web", "up", "programmed"],
    ]);
  });

  test("a failed apply is an error with the reason, until the next success", () => {
    const { graph, tracker, brief } = setup();
    tracker.setInterfaces([webIf]);
    const s1 = graph.apply([namespace("prod"), web]);
    tracker.setDesired(s1);
    tracker.applied(s1, ok);
    const s2 = graph.apply([db]);
    tracker.setDesired(s2);
    tracker.applied(s2, new Error("iptables-restore: line 12 failed"));
    assert.deepEqual(brief(), [
      ["prod/db", "error", "dataplane apply failed (retrying): iptables-restore: line 12 failed"],
      ["prod/web", "error", "dataplane apply failed (retrying): iptables-restore: line 12 failed"],
    ]);
    tracker.applied(s2, ok);
    assert.deepEqual(brief(), [
      ["prod/db", "down", `interface ${dbIf} not present`],
      ["prod/web", "up", "programmed"],
    ]);
  });

  test("interface removed: down; back: up again without a new apply", () => {
    const { graph, tracker, brief } = setup();
    tracker.setInterfaces([webIf]);
    const s1 = graph.apply([namespace("prod"), web]);
    tracker.setDesired(s1);
    tracker.applied(s1, ok);
    tracker.setInterfaces([]);
    assert.deepEqual(brief(), [["prod/web", "down", `interface ${webIf} not present`]]);
    tracker.setInterfaces([webIf]);
    assert.deepEqual(brief(), [["prod/web", "up", "programmed"]]);
  });

  test("a pod rejected as invalid is an error with the problem, also without an endpoint", () => {
    const { graph, tracker, changes, brief } = setup();
    tracker.setInterfaces([webIf]);
    const s1 = graph.apply([namespace("prod"), web]);
    tracker.setDesired(s1);
    tracker.applied(s1, ok);
    const broken = pod("prod", "web", { ip: "10.65.1.999", labels: { app: "web" } });
    const s2 = graph.apply([broken, pod("prod", "other-node", { ip: "10.65.1.999", node: "node2" })]);
    assert.ok(s2.problems["Pod/prod/web"], "the graph reports the pod");
    tracker.setDesired(s2);
    tracker.applied(s2, ok);
    const [[workload, status, reason]] = brief();
    assert.deepEqual([workload, status], ["prod/web", "error"]);
    assert.match(reason as string, /^pod manifest: .*10\.65\.1\.999/);
    assert.equal(tracker.get("prod/web")!.iface, webIf);
    assert.equal(tracker.get("prod/other-node"), undefined, "other nodes' pods are not ours");
    changes.length = 0;

    const s3 = graph.apply([deleted(broken)]);
    tracker.setDesired(s3);
    assert.deepEqual(brief(), []);
    assert.equal(changes.length, 1);
    assert.equal(changes[0].current, undefined, "removal is emitted without `current`");
    assert.equal(changes[0].previous!.status, "error");
  });

  test("nothing is emitted when nothing changes", () => {
    const { graph, tracker, changes } = setup();
    tracker.setInterfaces([webIf]);
    const s1 = graph.apply([namespace("prod"), web]);
    tracker.setDesired(s1);
    tracker.applied(s1, ok);
    const n = changes.length;
    tracker.applied(s1, ok);
    tracker.setInterfaces([webIf, "eth0"]);
    tracker.setDesired(graph.apply([namespace("prod")]));
    assert.equal(changes.length, n);
  });

  test("a pod with a refused address (a node's) is in error, its endpoint up with the other address or none", () => {
    const { graph, tracker, brief } = setup();
    const node2 = {
      kind: "Node" as const,
      namespace: "",
      name: "node2",
      value: {
        kind: "Node",
        metadata: { name: "node2" },
        status: { addresses: [{ type: "InternalIP", address: "172.31.0.2" }] },
      },
    };
    const s1 = graph.apply([
      namespace("prod"),
      node2,
      pod("prod", "web", { ips: ["10.65.1.10", "172.31.0.2"] }),
      pod("prod", "db", { ip: "172.31.0.2" }),
    ]);
    tracker.setDesired(s1);
    tracker.setInterfaces([webIf, dbIf]);
    tracker.applied(s1, ok);
    const [dbRow, webRow] = brief();
    assert.deepEqual(dbRow.slice(0, 2), ["prod/db", "error"]);
    assert.match(String(dbRow[2]), /172\.31\.0\.2 is node node2's address/);
    assert.deepEqual(webRow.slice(0, 2), ["prod/web", "error"]);
  });
});

describe("EndpointStatusTracker, incremental", () => {
  // A change looks only at the workloads its endpoints, problems or programmed state name: after any
  // sequence of inputs, the statuses are those a fresh tracker computes from the final inputs at once.
  test("any sequence of inputs ends in the statuses of the final inputs", () => {
    const names = ["a", "b", "c", "d", "a/x"]; // "a/x": refused (not a DNS name), its problem key starts like a's
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("pod" as const),
        name: fc.constantFrom(...names),
        node: fc.constantFrom("node1", "node2"),
        ip: fc.constantFrom("10.65.1.10", "10.65.1.11", "10.65.1.12", "999.1.1.1", "999.1.1.2", undefined),
        label: fc.constantFrom("x", "y"),
        gone: fc.boolean(),
      }),
      fc.record({ kind: fc.constant("applied" as const), ok: fc.boolean() }),
      fc.record({ kind: fc.constant("ifaces" as const), present: fc.subarray(names) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const graph = new CalcGraph({ nodeName: "node1" });
        const tracker = new EndpointStatusTracker();
        let desired = graph.apply([namespace("prod")]);
        let lastOk: typeof desired | undefined;
        let lastError: Error | undefined;
        let ifaces: string[] | undefined;
        for (const o of ops) {
          if (o.kind === "pod") {
            const u = pod("prod", o.name, { node: o.node, ip: o.ip, labels: { l: o.label } });
            desired = graph.apply([o.gone ? deleted(u) : u]);
            tracker.setDesired(desired);
          } else if (o.kind === "applied") {
            lastError = o.ok ? undefined : new Error("refused");
            if (o.ok) lastOk = desired;
            tracker.applied(desired, lastError ?? ok);
          } else {
            ifaces = o.present.map((n) => vethNameForWorkload("prod", n));
            tracker.setInterfaces(ifaces);
          }
        }
        const fresh = new EndpointStatusTracker();
        if (lastOk) fresh.applied(lastOk, ok);
        if (lastError) fresh.applied(desired, lastError);
        if (ifaces) fresh.setInterfaces(ifaces);
        if (ops.some((o) => o.kind === "pod")) fresh.setDesired(desired);
        const brief = (t: EndpointStatusTracker) => t.statuses().map((s) => [s.workload, s.iface, s.status, s.reason]);
        assert.deepEqual(brief(tracker), brief(fresh));
      }),
      { numRuns: 300 },
    );
  });
});

describe("EndpointStatusTracker, incremental, colliding interfaces", () => {
  // red/p2272271 and red/p4484179 hash to one interface (test/golden/hostile-iface-collision): both are
  // withdrawn and reported as `Pod/<ns>/<pod>/iface`, a problem key with a suffix.
  test("a collision that appears or goes after the first compute gives the statuses a fresh tracker gives", () => {
    const graph = new CalcGraph({ nodeName: "node1" });
    const tracker = new EndpointStatusTracker();
    const first = pod("red", "p2272271", { ip: "10.65.1.10" });
    const second = pod("red", "p4484179", { ip: "10.65.1.11" });
    const iface = vethNameForWorkload("red", "p2272271");
    assert.equal(vethNameForWorkload("red", "p4484179"), iface);
    tracker.setInterfaces([iface]);
    const brief = (t: EndpointStatusTracker) => t.statuses().map((s) => [s.workload, s.status, s.reason]);
    const fresh = (s: ReturnType<typeof graph.apply>) => {
      const f = new EndpointStatusTracker();
      f.setInterfaces([iface]);
      f.applied(s, ok);
      f.setDesired(s);
      return brief(f);
    };
    let s = graph.apply([namespace("red"), first]);
    tracker.setDesired(s);
    tracker.applied(s, ok);
    assert.deepEqual(brief(tracker), [["red/p2272271", "up", "programmed"]]);
    s = graph.apply([second]);
    tracker.setDesired(s);
    tracker.applied(s, ok);
    assert.equal(brief(tracker).length, 2);
    assert.ok(brief(tracker).every(([, status]) => status === "error"));
    assert.deepEqual(brief(tracker), fresh(s));
    s = graph.apply([deleted(second)]);
    tracker.setDesired(s);
    tracker.applied(s, ok);
    assert.deepEqual(brief(tracker), fresh(s));
    assert.deepEqual(brief(tracker), [["red/p2272271", "up", "programmed"]]);
  });
});
