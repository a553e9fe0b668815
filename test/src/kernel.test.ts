// kernel.ts without root: the counting wrappers put every ipset and
// iptables-restore call and failure into the metrics, and kernelDataplane
// wires the real parts (reading only: nothing here writes to the kernel).

import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import { backendAvailable } from "../../iptables/backend.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { agentConfigFromEnv } from "../../src/config.js";
import { CountingBackend, CountingIpsetBackend, kernelDataplane } from "../../src/kernel.js";
import { ourNftTablesIn } from "../../src/nftables-mode.js";
import { Metrics } from "../../status/metrics.js";

async function value(m: Metrics, name: string): Promise<number> {
  return (await m.registry.getSingleMetric(name)!.get()).values.reduce((n, v) => n + v.value, 0);
}

test("kernel: ipset calls and errors are counted", async () => {
  const m = new Metrics();
  const b = new CountingIpsetBackend(new FakeIpsetBackend(), m);
  await b.restore("create cali40s:a hash:net family inet\n");
  await b.save();
  await assert.rejects(b.restore("add cali40s:nosuch 10.0.0.1\n"), /does not exist/);
  assert.equal(await value(m, "felix_ipset_calls"), 3);
  assert.equal(await value(m, "felix_ipset_errors"), 1);
});

test("kernel: iptables-restore calls and errors are counted; saves are not restores", async () => {
  const m = new Metrics();
  const inner = new FakeIptablesBackend(4, "nft");
  const b = new CountingBackend(inner, m);
  assert.deepEqual([b.family, b.mode], [4, "nft"]);
  await b.restore("*filter\n:cali-a - [0:0]\nCOMMIT\n");
  await assert.rejects(b.restore("*filter\n-A cali-a -j cali-missing\nCOMMIT\n"));
  await b.save();
  assert.equal(await value(m, "felix_iptables_restore_calls"), 2);
  assert.equal(await value(m, "felix_iptables_restore_errors"), 1);
});

test("kernel: kernelDataplane wires the chosen backend, and IPv6 only when asked for", async () => {
  const cfg = { ...agentConfigFromEnv({}), ipv6Support: false };
  const k = await kernelDataplane(cfg, "nft", pino({ level: "silent" }), new Metrics());
  try {
    assert.equal(k.mode, "nft");
    assert.equal(k.ipv6, false);
  } finally {
    k.close();
  }
});

test("kernel: with IPv6 asked for, it is on exactly when ip6tables works here, and said when not", async () => {
  const cfg = { ...agentConfigFromEnv({}), ipv6Support: true };
  const warnings: string[] = [];
  const log = pino({ level: "warn" }, { write: (l: string) => warnings.push(JSON.parse(l).msg) });
  const k = await kernelDataplane(cfg, "legacy", log, new Metrics());
  try {
    const usable = await backendAvailable(6, "legacy");
    assert.equal(k.ipv6, usable);
    assert.deepEqual(
      warnings,
      usable ? [] : ["IPv6 support is on but ip6tables is not usable here: programming IPv4 only"],
    );
  } finally {
    k.close();
  }
});

test("kernel: iptables mode starts the spawn helper for the daemon only (`felix --once` forks its programs)", async () => {
  const cfg = { ...agentConfigFromEnv({}), ipv6Support: false };
  const log = pino({ level: "silent" });
  const daemon = await kernelDataplane(cfg, "legacy", log, new Metrics(), "off", "cali", "iptables");
  const once = await kernelDataplane(cfg, "legacy", log, new Metrics(), "off", "cali", "iptables", false);
  try {
    assert.equal(typeof daemon.spawn, "function");
    assert.equal(once.spawn, undefined);
  } finally {
    daemon.close();
    once.close();
  }
});

test("kernel: the nft leftovers of the nftables dataplane are looked for only when `nft list tables` names one of ours", () => {
  assert.equal(ourNftTablesIn(undefined), false, "no nft");
  assert.equal(ourNftTablesIn(""), false);
  assert.equal(ourNftTablesIn("table ip kube-proxy\ntable inet filter\ntable ip calicoX\ntable inet calico\n"), false);
  assert.equal(ourNftTablesIn("table ip filter\ntable ip calico\n"), true);
  assert.equal(ourNftTablesIn("table ip6 calico-nat-3\n"), true);
});
