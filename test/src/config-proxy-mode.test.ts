import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, graphConfigFromEnv } from "../../src/config.js";

test("FELIX_PROXYMODE: off by default; iptables, ipvs, off accepted; anything else is a clear config error", () => {
  assert.equal(graphConfigFromEnv("n", {}).proxyMode, "off");
  for (const m of ["iptables", "ipvs", "off"] as const) {
    assert.equal(graphConfigFromEnv("n", { FELIX_PROXYMODE: m }).proxyMode, m);
  }
  assert.throws(
    () => graphConfigFromEnv("n", { FELIX_PROXYMODE: "nftables" }),
    (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /FELIX_PROXYMODE must be iptables, ipvs or off, not "nftables"/);
      return true;
    },
  );
});
