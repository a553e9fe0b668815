import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, graphConfigFromEnv } from "../../src/config.js";
import { ipvsOptionsFromEnv } from "../../src/ipvs-config.js";

describe("IPVS config", () => {
  test("defaults: rr, 30000:32767", () => {
    assert.deepEqual(ipvsOptionsFromEnv({}), { scheduler: "rr", nodePortRange: [30000, 32767] });
  });

  test("FELIX_IPVSSCHEDULER and FELIX_KUBENODEPORTRANGES (first range)", () => {
    assert.deepEqual(ipvsOptionsFromEnv({ FELIX_IPVSSCHEDULER: "sh", FELIX_KUBENODEPORTRANGES: "31000:31999,32000" }), {
      scheduler: "sh",
      nodePortRange: [31000, 31999],
    });
    assert.deepEqual(ipvsOptionsFromEnv({ FELIX_KUBENODEPORTRANGES: "30080" }).nodePortRange, [30080, 30080]);
  });

  test("bad values are clear ConfigErrors", () => {
    assert.throws(() => ipvsOptionsFromEnv({ FELIX_IPVSSCHEDULER: "fastest" }), ConfigError);
    assert.throws(() => ipvsOptionsFromEnv({ FELIX_KUBENODEPORTRANGES: "32767:30000" }), /FELIX_KUBENODEPORTRANGES/);
    assert.throws(() => ipvsOptionsFromEnv({ FELIX_KUBENODEPORTRANGES: "x" }), ConfigError);
  });

  test("the graph config carries the IPVS options only in proxy mode ipvs", () => {
    assert.equal(
      graphConfigFromEnv("n", { FELIX_PROXYMODE: "iptables", FELIX_IPVSSCHEDULER: "bogus" }).ipvs,
      undefined,
    );
    assert.deepEqual(
      graphConfigFromEnv("n", { FELIX_PROXYMODE: "ipvs", FELIX_IPVSSCHEDULER: "sh" }).ipvs?.scheduler,
      "sh",
    );
    assert.throws(
      () => graphConfigFromEnv("n", { FELIX_PROXYMODE: "ipvs", FELIX_IPVSSCHEDULER: "bogus" }),
      ConfigError,
    );
  });
});
