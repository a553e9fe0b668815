// A tenant creating and deleting pods with names, label keys and label values
// never seen before (local and remote pods, a policy selecting them) must not
// grow the graph's memory with the number of changes: what it holds is
// bounded by what exists (the indexes: retention.test.ts) plus bounded memos.

import assert from "node:assert/strict";
import { test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { liveHeap } from "../helpers/live-heap.js";
import { deleted, namespace, node, pod, policy } from "./fixtures.js";

/** Enough unique names to fill every bounded memo (calc-graph/conversion/valid-memo.ts) to its bound. */
const ROUND = 12_000;
const BATCH = 10;

function churn(graph: CalcGraph, from: number, count: number): void {
  for (let b = from; b < from + count; b += BATCH) {
    const pods: ResourceUpdate[] = [];
    for (let i = b; i < b + BATCH; i++) {
      const unique = `${i}`.padStart(8, "0");
      pods.push(
        pod("tenant", `pod-with-a-unique-name-${unique}`, {
          node: i % 2 === 0 ? "node1" : "node2",
          ip: `10.65.${(i >> 8) % 200}.${i % 250}`,
          labels: { [`team-${unique}.example.com/owner-${unique}`]: `value-${unique}-x`, app: "churn" },
        }),
      );
    }
    graph.apply(pods);
    graph.apply(pods.map(deleted));
  }
}

test("pods with unique names and labels, created and deleted: memory after 2 rounds is memory after 1", () => {
  const graph = new CalcGraph({ nodeName: "node1" });
  const setup: ResourceUpdate[] = [
    node("node1", "10.65.0.0/24", "192.168.0.1"),
    node("node2", "10.65.1.0/24", "192.168.0.2"),
    namespace("tenant"),
    policy("tenant", "from-churn", {
      podSelector: { matchLabels: { app: "churn" } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: "churn" } } }] }],
    }),
  ];
  graph.apply(setup);
  churn(graph, 0, ROUND);
  const afterOne = liveHeap();
  churn(graph, ROUND, ROUND);
  const grown = liveHeap() - afterOne;
  // Unbounded, each pod would keep its names (~150 bytes) at least: 1.8 MB over 12,000 pods.
  assert.ok(grown < 600_000, `${grown} bytes more live after ${ROUND} more pods came and went`);
});
