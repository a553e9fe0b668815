// The fake nftables and the real nft agree on what they accept and refuse:
// each scenario loads a base table, then runs one script on both; both must
// accept it or both refuse it, and afterwards both must read back the same.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { ExecNftBackend, type NftBackend } from "../../nftables/backend.js";
import { FakeNftBackend } from "../../nftables/fake-backend.js";
import { parseNftJson } from "../../nftables/view.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";

const skip = netnsSkipReason() ?? (spawnSync("sh", ["-c", "command -v nft"]).status !== 0 && "needs nft");

const T = "ip calico";
const BASE = [
  `add table ${T}`,
  `add set ${T} s { type ipv4_addr; flags interval; }`,
  `add element ${T} s { 10.0.0.0/24, 10.1.0.1 }`,
  `add set ${T} p { type ipv4_addr . inet_proto . inet_service; }`,
  `add element ${T} p { 10.0.0.1 . tcp . 80 }`,
  `add chain ${T} a`,
  `add chain ${T} b`,
  `add rule ${T} a ip saddr @s jump b comment "cali:r1"`,
  `add chain ${T} f { type filter hook forward priority filter; policy accept; }`,
  `add rule ${T} f jump a comment "cali:r2"`,
  // kube-proxy's objects (FELIX_PROXYMODE=nftables): a verdict map naming chain c, an affinity set.
  `add chain ${T} c`,
  `add map ${T} m { type ipv4_addr . inet_proto . inet_service : verdict; }`,
  `add element ${T} m { 10.96.0.1 . tcp . 80 : goto c }`,
  `add set ${T} aff { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 600s; }`,
  "",
].join("\n");

const SCENARIOS: { name: string; script: string; ok: boolean }[] = [
  { name: "jump to a missing chain", script: `add chain ${T} c\nadd rule ${T} c jump nowhere\n`, ok: false },
  {
    name: "jump to a chain declared later",
    script: `add chain ${T} c\nadd rule ${T} c jump d\nadd chain ${T} d\n`,
    ok: false,
  },
  { name: "a jump closing a loop that a base chain reaches", script: `add rule ${T} b jump a\n`, ok: false },
  {
    name: "a loop no base chain reaches",
    script: `add chain ${T} x\nadd chain ${T} y\nadd rule ${T} x jump y\nadd rule ${T} y goto x\n`,
    ok: true,
  },
  { name: "rule using a missing set", script: `add rule ${T} b ip saddr @nope accept\n`, ok: false },
  // Our second table (calico-nat): a jump or a lookup never leaves its table.
  {
    name: "a jump into another table's chain",
    script: "add table ip calico-nat\nadd chain ip calico-nat n\nadd rule ip calico-nat n jump a\n",
    ok: false,
  },
  {
    name: "a lookup of another table's set",
    script: "add table ip calico-nat\nadd chain ip calico-nat n\nadd rule ip calico-nat n ip saddr @s accept\n",
    ok: false,
  },
  { name: "delete a chain still jumped to", script: `delete chain ${T} b\n`, ok: false },
  { name: "delete a set still used", script: `delete set ${T} s\n`, ok: false },
  {
    name: "flush the user, then delete chain and set",
    script: `flush chain ${T} a\ndelete chain ${T} b\ndelete set ${T} s\n`,
    ok: true,
  },
  { name: "delete a chain with rules nobody jumps to", script: `flush chain ${T} f\ndelete chain ${T} a\n`, ok: true },
  { name: "an IPv6 element in an IPv4 set", script: `add element ${T} s { fd00::1 }\n`, ok: false },
  { name: "a concatenation in a one-field set", script: `add element ${T} s { 10.0.0.1 . tcp . 80 }\n`, ok: false },
  { name: "a port out of range", script: `add element ${T} p { 10.0.0.1 . tcp . 70000 }\n`, ok: false },
  { name: "an overlapping interval", script: `add element ${T} s { 10.0.0.5 }\n`, ok: false },
  { name: "an interval covering existing ones", script: `add element ${T} s { 10.0.0.0/8 }\n`, ok: false },
  {
    name: "re-adding present elements",
    script: `add element ${T} s { 10.0.0.0/24 }\nadd element ${T} p { 10.0.0.1 . tcp . 80 }\n`,
    ok: true,
  },
  { name: "delete an element that is not there", script: `delete element ${T} s { 10.9.9.9 }\n`, ok: false },
  {
    name: "delete a covering interval, add what it covered",
    script: `delete element ${T} s { 10.0.0.0/24 }\nadd element ${T} s { 10.0.0.5, 10.0.0.6 }\n`,
    ok: true,
  },
  { name: "re-add a set with another type", script: `add set ${T} s { type ipv4_addr; }\n`, ok: false },
  {
    name: "change a base chain's policy",
    script: `add chain ${T} f { type filter hook forward priority filter; policy drop; }\n`,
    ok: true,
  },
  {
    name: "change a base chain's hook",
    script: `add chain ${T} f { type filter hook input priority filter; policy accept; }\n`,
    ok: false,
  },
  {
    name: "a map element to a missing chain",
    script: `add element ${T} m { 10.96.0.2 . tcp . 80 : goto nowhere }\n`,
    ok: false,
  },
  { name: "delete a chain a map element names", script: `delete chain ${T} c\n`, ok: false },
  {
    name: "delete the map element, then its chain",
    script: `delete element ${T} m { 10.96.0.1 . tcp . 80 }\ndelete chain ${T} c\n`,
    ok: true,
  },
  {
    name: "a map key present with another verdict",
    script: `add element ${T} m { 10.96.0.1 . tcp . 80 : drop }\n`,
    ok: false,
  },
  {
    name: "a map key's verdict replaced (delete, add)",
    script: `delete element ${T} m { 10.96.0.1 . tcp . 80 }\nadd element ${T} m { 10.96.0.1 . tcp . 80 : drop }\n`,
    ok: true,
  },
  {
    name: "a vmap lookup of the map",
    script: `add rule ${T} a ip daddr . meta l4proto . th dport vmap @m\n`,
    ok: true,
  },
  {
    name: "numgen vmap to a missing chain",
    script: `add rule ${T} a numgen random mod 2 vmap { 0 : goto c, 1 : goto nowhere }\n`,
    ok: false,
  },
  { name: "update of the affinity set", script: `add rule ${T} a update @aff { ip saddr }\n`, ok: true },
  {
    name: "the affinity set re-declared with another timeout",
    script: `add set ${T} aff { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 60s; }\n`,
    ok: true,
  },
  {
    name: "a good command before a refused one changes nothing",
    script: `add element ${T} s { 10.7.0.0/16 }\ndelete chain ${T} b\n`,
    ok: false,
  },
];

async function outcome(b: NftBackend, script: string): Promise<{ ok: boolean; view: unknown }> {
  let ok = true;
  try {
    await b.transact(script);
  } catch {
    ok = false;
  }
  const v = parseNftJson((await b.list())!);
  const chains = Object.fromEntries([...v.chains].sort(([a], [c]) => (a < c ? -1 : 1)));
  const sets = Object.fromEntries([...v.sets].map(([n, s]) => [n, { ...s, elements: [...s.elements].sort() }]));
  return { ok, view: { chains, sets } };
}

test("the fake and the real nft accept and refuse the same scripts", {
  ...skipIf(skip),
  timeout: 120_000,
}, async () => {
  for (const sc of SCENARIOS) {
    const ns = createNetns("fxnftvs");
    try {
      const real = new ExecNftBackend("ip", ["ip", "netns", "exec", ns]);
      const fake = new FakeNftBackend("ip");
      await real.transact(BASE);
      await fake.transact(BASE);
      const [r, f] = [await outcome(real, sc.script), await outcome(fake, sc.script)];
      assert.equal(r.ok, sc.ok, `${sc.name}: real nft ${r.ok ? "accepted" : "refused"}`);
      assert.equal(f.ok, sc.ok, `${sc.name}: fake ${f.ok ? "accepted" : "refused"}`);
      assert.deepEqual(f.view, r.view, `${sc.name}: same table after`);
    } finally {
      deleteNetns(ns);
    }
  }
});
