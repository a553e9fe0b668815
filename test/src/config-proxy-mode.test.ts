import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, graphConfigFromEnv } from "../../src/config.js";

test("FELIX_PROXYMODE: off by default; iptables, ipvs, nftables, off accepted; anything else is a clear config error", () => {
  assert.equal(graphConfigFromEnv("n", {}).proxyMode, "off");
  // nftables is checked against the dataplane at start-up (test/src/cli/felix.test.ts).
  for (const m of ["iptables", "ipvs", "nftables", "off"] as const) {
    assert.equal(graphConfigFromEnv("n", { FELIX_PROXYMODE: m }).proxyMode, m);
  }
  assert.throws(
    () => graphConfigFromEnv("n", { FELIX_PROXYMODE: "kube-proxy" }),
    (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /FELIX_PROXYMODE must be iptables, ipvs, nftables or off, not "kube-proxy"/);
      return true;
    },
  );
});
