// The chain shards of a snapshot's tables are records keyed by chain names;
// they must stay hash tables (model/dict.ts). A shard copied by spread, or
// built from an object literal, had fast properties: a hidden class per
// chain name, made anew in the old generation by every change that copied
// the shard. At the large preset this grew the daemon's maps and descriptor
// arrays by ~3 MB per 2,500 changes and fragmented its old generation.

import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { TABLE_NAMES } from "../../model/tables.js";
import { deleted, namespace, node, pod, policy } from "./fixtures.js";

setFlagsFromString("--allow-natives-syntax");
// Compiled after the flag: V8's own answer, whether an object keeps its properties in a hidden class.
const hasFastProperties = new Function("o", "return %HasFastProperties(o)") as (o: object) => boolean;

const fastShards = (s: DesiredState) =>
  TABLE_NAMES.flatMap((t) =>
    Object.entries(s.iptables.ipv4[t].shards)
      .filter(([, shard]) => hasFastProperties(shard))
      .map(([k, shard]) => `${t}[${k}]: ${Object.keys(shard).join(",")}`),
  );

const isolate = (name: string, app: string) =>
  policy("prod", name, { podSelector: { matchLabels: { app } }, ingress: [{ from: [{ podSelector: {} }] }] });

test("chain shards stay hash tables, as first built and as copied by later changes", () => {
  const graph = new CalcGraph({ nodeName: "node1" });
  const first = graph.apply([
    node("node1", "10.65.1.0/24", "192.168.0.1"),
    namespace("prod"),
    ...Array.from({ length: 20 }, (_, i) =>
      pod("prod", `web-${i}`, { ip: `10.65.1.${10 + i}`, labels: { app: "web" } }),
    ),
    isolate("web-in", "web"),
  ]);
  assert.notEqual(Object.keys(first.iptables.ipv4.filter.shards).length, 0);
  assert.deepEqual(fastShards(first), []);
  // Chains added, changed and removed: each flush copies the shards it touches.
  let s = first;
  for (let i = 0; i < 5; i++) {
    s = graph.apply([isolate(`web-in-${i}`, "web"), pod("prod", `db-${i}`, { ip: `10.65.1.${100 + i}` })]);
    s = graph.apply([deleted(isolate(`web-in-${i}`, "web"))]);
  }
  assert.notEqual(s, first);
  assert.deepEqual(fastShards(s), []);
});
