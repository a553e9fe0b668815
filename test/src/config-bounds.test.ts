import assert from "node:assert/strict";
import { test } from "node:test";
import { agentConfigFromEnv, ConfigError, graphConfigFromEnv } from "../../src/config.js";

test("FELIX_MAXIPSETSIZE: Felix's 1048576 by default, for the graph's bound and the sets' maxelem alike; anything but a positive 32-bit count is a clear config error", () => {
  assert.equal(agentConfigFromEnv({}).maxIpSetSize, 1048576);
  assert.equal(graphConfigFromEnv("n1", {}).maxIpSetSize, 1048576);
  assert.equal(graphConfigFromEnv("n1", { FELIX_MAXIPSETSIZE: "" }).maxIpSetSize, 1048576);
  assert.equal(agentConfigFromEnv({ FELIX_MAXIPSETSIZE: "4" }).maxIpSetSize, 4);
  assert.equal(graphConfigFromEnv("n1", { FELIX_MAXIPSETSIZE: " 2000000 " }).maxIpSetSize, 2000000);
  for (const bad of ["0", "-1", "1e6", "12.5", "abc", "4294967296", "0x10"]) {
    assert.throws(
      () => graphConfigFromEnv("n1", { FELIX_MAXIPSETSIZE: bad }),
      (e: Error) => e instanceof ConfigError && /FELIX_MAXIPSETSIZE must be a whole number/.test(e.message),
      bad,
    );
  }
});

test("FELIX_POLICYMAXRULES (felix-ts's own): 50000 by default; a positive whole number", () => {
  assert.equal(graphConfigFromEnv("n1", {}).maxPolicyRules, 50000);
  assert.equal(graphConfigFromEnv("n1", { FELIX_POLICYMAXRULES: "300" }).maxPolicyRules, 300);
  for (const bad of ["0", "-3", "2.5", "lots"]) {
    assert.throws(
      () => graphConfigFromEnv("n1", { FELIX_POLICYMAXRULES: bad }),
      (e: Error) => e instanceof ConfigError && /FELIX_POLICYMAXRULES must be a whole number/.test(e.message),
      bad,
    );
  }
});

test("FELIX_SERVICEMAXENDPOINTPORTS (felix-ts's own): 100000 by default; a positive whole number", () => {
  assert.equal(graphConfigFromEnv("n1", {}).maxServiceEndpointPorts, 100000);
  assert.equal(graphConfigFromEnv("n1", { FELIX_SERVICEMAXENDPOINTPORTS: "5000" }).maxServiceEndpointPorts, 5000);
  assert.throws(
    () => graphConfigFromEnv("n1", { FELIX_SERVICEMAXENDPOINTPORTS: "0" }),
    /FELIX_SERVICEMAXENDPOINTPORTS must be a whole number/,
  );
});
