import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { felixConfigFromEnv } from "../../calc-graph/config/fields.js";
import { ruleSettings } from "../../calc-graph/config/settings.js";
import { ConfigError, graphConfigFromEnv } from "../../src/config.js";
import {
  detectFeatures,
  kubeIpvsPresent,
  loadSctpConntrack,
  parseVersion,
  SCTP_CONNTRACK_MODULE,
} from "../../src/kernel-features.js";

describe("kernel features (Felix's feature detection)", () => {
  test("versions from iptables' and the kernel's texts", () => {
    assert.deepEqual(parseVersion("iptables-restore v1.8.9 (legacy)"), [1, 8, 9]);
    assert.deepEqual(parseVersion("6.18.44-fc-v1300"), [6, 18, 44]);
    assert.deepEqual(parseVersion("3.10"), [3, 10, 0]);
    assert.equal(parseVersion("no version here"), undefined);
  });

  test("MASQUERADE --random-fully needs iptables 1.6.2 and kernel 3.14", () => {
    assert.equal(detectFeatures("iptables v1.8.9 (nf_tables)", "6.18.44").masqFullyRandom, true);
    assert.equal(detectFeatures("iptables v1.6.2", "3.14.0").masqFullyRandom, true);
    assert.equal(detectFeatures("iptables v1.6.1", "5.10.0").masqFullyRandom, false);
    assert.equal(detectFeatures("iptables v1.8.7", "3.13.9-old").masqFullyRandom, false);
    assert.equal(detectFeatures("", "6.1.0").masqFullyRandom, false, "an unknown iptables counts as too old");
  });

  test("FELIX_FEATUREDETECTOVERRIDE overrules detection; without it the agent's detection decides", () => {
    const env = felixConfigFromEnv({ FELIX_FEATUREDETECTOVERRIDE: "MASQFullyRandom=false, RestoreSupportsLock=true" });
    assert.deepEqual(env.featureDetectOverride, { MASQFullyRandom: false, RestoreSupportsLock: true });
    assert.equal(ruleSettings({}, "cali", { masqFullyRandom: false }).masqFullyRandom, false, "detection decides");
    assert.equal(ruleSettings({}, "cali", { masqFullyRandom: true }).masqFullyRandom, true);
    assert.equal(ruleSettings(env, "cali", { masqFullyRandom: true }).masqFullyRandom, false, "the override wins");
    const on = felixConfigFromEnv({ FELIX_FEATUREDETECTOVERRIDE: "MASQFullyRandom=true" });
    assert.equal(ruleSettings(on, "cali", { masqFullyRandom: false }).masqFullyRandom, true);
    assert.throws(() => felixConfigFromEnv({ FELIX_FEATUREDETECTOVERRIDE: "MASQFullyRandom=maybe" }));
    assert.throws(() => graphConfigFromEnv("n", { FELIX_FEATUREDETECTOVERRIDE: "MASQFullyRandom=maybe" }), ConfigError);
  });

  test("modprobe nf_conntrack_proto_sctp: tried once, a failure (built in) is reported, never thrown", async () => {
    const calls: string[][] = [];
    const ok = await loadSctpConntrack(async (cmd, args) => {
      calls.push([cmd, ...args]);
      return { code: 0, stderr: "" };
    });
    assert.deepEqual(calls, [["modprobe", SCTP_CONNTRACK_MODULE]]);
    assert.equal(ok, "loaded");
    const builtIn = await loadSctpConntrack(async () => ({ code: 1, stderr: "modprobe: FATAL: Module not found\n" }));
    assert.match(builtIn, /built in, or not available\): modprobe: FATAL/);
    const missing = await loadSctpConntrack(async () => {
      throw new Error("modprobe not found");
    });
    assert.match(missing, /could not run/);
  });

  test("kube-ipvs0 is found in sysfs", () => {
    const dir = mkdtempSync(join(tmpdir(), "sysnet-"));
    try {
      assert.equal(kubeIpvsPresent(dir), false);
      mkdirSync(join(dir, "kube-ipvs0"));
      assert.equal(kubeIpvsPresent(dir), true);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe("protection settings (Felix's names and defaults)", () => {
  test("FELIX_ALLOW*PACKETSFROMWORKLOADS default false; FELIX_CHAININSERTMODE insert|append; IPVS support", () => {
    const d = ruleSettings(felixConfigFromEnv({}));
    assert.equal(d.allowVXLANPacketsFromWorkloads, false);
    assert.equal(d.allowIPIPPacketsFromWorkloads, false);
    assert.equal(d.chainInsertMode, "insert");
    assert.deepEqual(d.kubeNodePortRange, [30000, 32767]);
    assert.equal(graphConfigFromEnv("n", {}).kubeIPVSSupport, false);
    const on = ruleSettings(
      felixConfigFromEnv({
        FELIX_ALLOWVXLANPACKETSFROMWORKLOADS: "true",
        FELIX_ALLOWIPIPPACKETSFROMWORKLOADS: "TRUE",
        FELIX_CHAININSERTMODE: "Append",
        FELIX_KUBENODEPORTRANGES: "31000:31999,32000",
      }),
    );
    assert.equal(on.allowVXLANPacketsFromWorkloads, true);
    assert.equal(on.allowIPIPPacketsFromWorkloads, true);
    assert.equal(on.chainInsertMode, "append");
    assert.deepEqual(on.kubeNodePortRange, [31000, 31999], "the first range");
    assert.equal(graphConfigFromEnv("n", { FELIX_PROXYMODE: "ipvs" }).kubeIPVSSupport, true, "our IPVS mode too");
    assert.throws(() => graphConfigFromEnv("n", { FELIX_CHAININSERTMODE: "top" }), ConfigError);
    assert.throws(() => graphConfigFromEnv("n", { FELIX_ALLOWVXLANPACKETSFROMWORKLOADS: "sure" }), ConfigError);
  });
});
