// status/prom.ts loads prom-client's classes by their files: they must be the
// very classes prom-client's index exports (an upgrade that moves them fails here),
// and a registry of them renders with the index's collectDefaultMetrics too.

import assert from "node:assert/strict";
import { test } from "node:test";
import * as index from "prom-client";
import { Counter, Gauge, Histogram, Registry } from "../../status/prom.js";

test("status/prom.ts's classes are prom-client's own, and mix with its default metrics", async () => {
  assert.deepEqual(
    [Counter, Gauge, Histogram, Registry].map(
      (c, i) => c === [index.Counter, index.Gauge, index.Histogram, index.Registry][i],
    ),
    [true, true, true, true],
  );
  const registry = new Registry();
  new Counter({ name: "felix_test_total", help: "t", registers: [registry] }).inc(2);
  index.collectDefaultMetrics({ register: registry });
  const text = await registry.metrics();
  assert.match(text, /^felix_test_total 2$/m);
  assert.match(text, /^process_cpu_user_seconds_total /m);
});
