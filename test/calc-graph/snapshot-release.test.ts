// A flush keeps only the snapshot it produced: the one it started from is let
// go once the caller drops it (the chain writes of a flush held it until the
// next flush: after a change that re-rendered much, both versions stayed).

import assert from "node:assert/strict";
import { test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { fullGc } from "../helpers/live-heap.js";
import { namespace, node, pod, policy } from "./fixtures.js";

const isolate = (name: string, app: string) =>
  policy("prod", name, { podSelector: { matchLabels: { app } }, ingress: [{ from: [{ podSelector: {} }] }] });

test("the previous snapshot is not retained by the graph after a flush", async () => {
  const graph = new CalcGraph({ nodeName: "node1" });
  graph.apply([
    node("node1", "10.65.1.0/24", "192.168.0.1"),
    namespace("prod"),
    pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } }),
  ]);
  const previous = new WeakRef<DesiredState>(graph.apply([isolate("web-in", "web")]));
  const next = graph.apply([isolate("web-in-2", "web")]);
  assert.notEqual(previous.deref(), next);
  await new Promise((r) => setImmediate(r)); // WeakRef targets live to the end of the current job
  fullGc();
  assert.equal(previous.deref(), undefined);
});
