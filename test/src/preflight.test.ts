// preflight's exit-1 messages, from injected probes (no root needed).

import assert from "node:assert/strict";
import { test } from "node:test";
import { type PreflightProbes, preflight } from "../../src/preflight.js";

const probes = (uid: number, have: string[]): PreflightProbes & { asked: string[] } => {
  const asked: string[] = [];
  return {
    asked,
    uid: () => uid,
    exists: async (cmd) => {
      asked.push(cmd);
      return have.includes(cmd);
    },
  };
};
const ALL = ["iptables-legacy-save", "iptables-legacy-restore", "iptables-nft-save", "iptables-nft-restore", "ipset"];

test("preflight: root with every tool has no problem", async () => {
  assert.deepEqual(await preflight("legacy", probes(0, ALL)), []);
  assert.deepEqual(await preflight("nft", probes(0, ALL)), []);
});

test("preflight: not root says so and how to fix it", async () => {
  assert.deepEqual(await preflight("legacy", probes(1000, ALL)), [
    "felix needs root (CAP_NET_ADMIN) to program iptables, ipsets and routes: run it with sudo",
  ]);
});

test("preflight: each missing tool of the chosen backend is named with its package", async () => {
  const p = probes(0, ["iptables-legacy-save", "iptables-legacy-restore"]);
  assert.deepEqual(await preflight("nft", p), [
    "iptables-nft-save not found: install the iptables package (apt-get install iptables)",
    "iptables-nft-restore not found: install the iptables package (apt-get install iptables)",
    "ipset not found: install the ipset package (apt-get install ipset)",
  ]);
  assert.deepEqual(p.asked, ["iptables-nft-save", "iptables-nft-restore", "ipset"]);
  assert.equal((await preflight("legacy", probes(1000, []))).length, 4, "not root and three tools missing");
});
