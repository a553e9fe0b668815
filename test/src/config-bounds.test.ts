// The bounds on what one tenant object may cost the node: defaults, parsing, clear errors.

import assert from "node:assert/strict";
import { test } from "node:test";
import { agentConfigFromEnv, ConfigError, graphConfigFromEnv } from "../../src/config.js";

const BOUNDS = [
  // Felix's MaxIpsetSize: the graph's bound and the sets' maxelem alike; maxelem is 32-bit.
  { env: "FELIX_MAXIPSETSIZE", field: "maxIpSetSize", dflt: 1048576, ok: "2000000", bad: ["4294967296", "1e6"] },
  // felix-ts's own.
  { env: "FELIX_POLICYMAXRULES", field: "maxPolicyRules", dflt: 50000, ok: "300", bad: [] },
  { env: "FELIX_SERVICEMAXENDPOINTPORTS", field: "maxServiceEndpointPorts", dflt: 100000, ok: "5000", bad: [] },
] as const;

for (const b of BOUNDS) {
  test(`${b.env}: ${b.dflt} by default; a positive whole number, anything else a clear config error`, () => {
    const get = (v?: string) =>
      graphConfigFromEnv("n1", v === undefined ? {} : { [b.env]: v })[
        b.field as keyof ReturnType<typeof graphConfigFromEnv>
      ];
    assert.equal(get(), b.dflt);
    assert.equal(get(""), b.dflt);
    assert.equal(get(` ${b.ok} `), Number(b.ok));
    for (const bad of ["0", "-1", "12.5", "abc", "0x10", ...b.bad]) {
      assert.throws(
        () => get(bad),
        (e: Error) => e instanceof ConfigError && new RegExp(`${b.env} must be a whole number`).test(e.message),
        bad,
      );
    }
  });
}

test("FELIX_MAXIPSETSIZE is the agent's maxelem too", () => {
  assert.equal(agentConfigFromEnv({}).maxIpSetSize, 1048576);
  assert.equal(agentConfigFromEnv({ FELIX_MAXIPSETSIZE: "4" }).maxIpSetSize, 4);
});
