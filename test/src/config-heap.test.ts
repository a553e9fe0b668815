import assert from "node:assert/strict";
import { test } from "node:test";
import { agentConfigFromEnv, ConfigError } from "../../src/config.js";
import { DEFAULT_HEAP_GROWTH_PERCENT } from "../../src/heap.js";

test("FELIX_HEAPGROWTHPERCENT: 20 by default, 0 keeps V8's default, anything else is a clear config error", () => {
  assert.equal(DEFAULT_HEAP_GROWTH_PERCENT, 20);
  assert.equal(agentConfigFromEnv({}).heapGrowthPercent, 20);
  assert.equal(agentConfigFromEnv({ FELIX_HEAPGROWTHPERCENT: "" }).heapGrowthPercent, 20);
  assert.equal(agentConfigFromEnv({ FELIX_HEAPGROWTHPERCENT: "0" }).heapGrowthPercent, 0);
  assert.equal(agentConfigFromEnv({ FELIX_HEAPGROWTHPERCENT: "100" }).heapGrowthPercent, 100);
  for (const bad of ["abc", "-5", "12.5", "5000"]) {
    assert.throws(
      () => agentConfigFromEnv({ FELIX_HEAPGROWTHPERCENT: bad }),
      (e: Error) =>
        e instanceof ConfigError && /FELIX_HEAPGROWTHPERCENT must be a whole number of percent/.test(e.message),
      bad,
    );
  }
});
