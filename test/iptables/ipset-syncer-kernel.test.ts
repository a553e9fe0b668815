// The IP set syncer's type-change and swap paths, run the same way against
// the fake kernel and (as root) the real `ipset` in a throwaway namespace:
// the kernel refuses to swap sets of different types, so a set whose type
// changed is destroyed and re-created, and while a rule still holds it the
// apply fails naming it, leaving the set as it was. A set created with
// another maxelem (FELIX_MAXIPSETSIZE changed) is swapped for a copy with the
// new one while a rule holds it; more members than maxelem are refused.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { run } from "../../iptables/exec.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import type { IpSetState } from "../../iptables/ipset.js";
import { FakeIpsetBackend, type IpsetBackend, IpsetError } from "../../iptables/ipset-backend.js";
import { IpsetSyncer, SWAP_THRESHOLD } from "../../iptables/ipset-syncer.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";
import { view } from "./kernel-scenarios.js";

const missing = ["ipset", "iptables-legacy-restore"].find(
  (t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0,
);
const skip = netnsSkipReason() ?? (missing && `needs ${missing}`);

interface Env {
  readonly ipsets: IpsetBackend;
  iptables(input: string): Promise<void>;
  sets(): Promise<Record<string, string>>;
}

/** ExecIpsetBackend's commands, run inside `ns`. */
class NetnsIpsetBackend implements IpsetBackend {
  constructor(readonly ns: string) {}
  async save() {
    return (await run("ip", ["netns", "exec", this.ns, "ipset", "save"])).stdout;
  }
  async restore(input: string) {
    const r = await run("ip", ["netns", "exec", this.ns, "ipset", "restore", "-exist"], input);
    if (r.code !== 0) throw new IpsetError(`ipset restore failed: ${r.stderr.trim()}`);
  }
}

function fakeEnv(): Env {
  const ipsets = new FakeIpsetBackend();
  const ipt = new FakeIptablesBackend(4, "legacy", ipsets);
  return { ipsets, iptables: (i) => ipt.restore(i), sets: async () => view(await ipsets.save(), "").sets };
}

function realEnv(ns: string): Env {
  const ipsets = new NetnsIpsetBackend(ns);
  return {
    ipsets,
    async iptables(input) {
      const r = await run("ip", ["netns", "exec", ns, "iptables-legacy-restore", "--noflush"], input);
      assert.equal(r.code, 0, r.stderr);
    },
    sets: async () => view(await ipsets.save(), "").sets,
  };
}

const set = (name: string, type: IpSetState["type"], members: string[]): IpSetState => ({
  name,
  family: 4,
  type,
  members: new Set(members),
});

async function scenario(env: Env): Promise<void> {
  // A set under our name with another type, held by a rule: left by something else.
  await env.ipsets.restore("create cali40n:a hash:net family inet\nadd cali40n:a 10.0.0.1\n");
  await env.iptables("*filter\n:cali-old - [0:0]\n-A cali-old -m set --match-set cali40n:a src -j ACCEPT\nCOMMIT\n");
  const s = new IpsetSyncer(env.ipsets);
  const want = [set("cali40n:a", "hash:ip,port", ["10.0.0.1,tcp:80"]), set("cali40s:z", "hash:net", ["10.0.0.9"])];
  await assert.rejects(s.addOrUpdate(want), /cali40n:a: .*in use by a kernel component/);
  assert.deepEqual(await env.sets(), {
    "cali40n:a": "hash:net inet maxelem 65536: 10.0.0.1",
    "cali40s:z": "hash:net inet maxelem 1048576: 10.0.0.9",
  });
  // Once the rule is gone the set is re-created with its new type.
  await env.iptables("*filter\n-F cali-old\n-X cali-old\nCOMMIT\n");
  const r = await s.addOrUpdate(want);
  assert.equal(r.setsRecreated, 1);
  // A large change of a set of one type goes through a temporary set and swap.
  const many = Array.from({ length: SWAP_THRESHOLD + 10 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
  const r2 = await s.addOrUpdate([set("cali40s:z", "hash:net", many)]);
  assert.equal(r2.setsSwapped, 1);
  const after = await env.sets();
  assert.deepEqual(Object.keys(after).sort(), ["cali40n:a", "cali40s:z"], "no temporary set left");
  assert.equal(after["cali40n:a"], "hash:ip,port inet maxelem 1048576: 10.0.0.1,tcp:80");
  assert.equal(after["cali40s:z"].split(" ").length, 4 + many.length);
  assert.equal(
    (await new IpsetSyncer(env.ipsets).addOrUpdate([set("cali40s:z", "hash:net", many), want[0]])).bytesWritten,
    0,
  );
}

test("ipset syncer: type change and swap on the fake kernel", () => scenario(fakeEnv()));

test("ipset syncer: type change and swap on the real ipset", { ...skipIf(skip), timeout: 60_000 }, async () => {
  const ns = createNetns("fxipset");
  try {
    await scenario(realEnv(ns));
  } finally {
    deleteNetns(ns);
  }
});

async function maxelemScenario(env: Env): Promise<void> {
  const three = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
  await new IpsetSyncer(env.ipsets, { maxelem: 3 }).addOrUpdate([set("cali40s:m", "hash:net", three)]);
  assert.equal((await env.sets())["cali40s:m"], `hash:net inet maxelem 3: ${three.join(" ")}`);
  await env.iptables("*filter\n:cali-m - [0:0]\n-A cali-m -m set --match-set cali40s:m src -j ACCEPT\nCOMMIT\n");
  // The kernel holds the bound: a fourth member is refused.
  await assert.rejects(env.ipsets.restore("add cali40s:m 10.0.0.4\n"), /Hash is full/);
  const five = [...three, "10.0.0.4", "10.0.0.5"];
  const r = await new IpsetSyncer(env.ipsets, { maxelem: 10 }).addOrUpdate([set("cali40s:m", "hash:net", five)]);
  assert.equal(r.setsSwapped, 1);
  const after = await env.sets();
  assert.deepEqual(Object.keys(after), ["cali40s:m"], "no temporary set left");
  assert.equal(after["cali40s:m"], `hash:net inet maxelem 10: ${five.join(" ")}`);
  await env.iptables("*filter\n-F cali-m\n-X cali-m\nCOMMIT\n");
}

test("ipset syncer: a new maxelem on the fake kernel", () => maxelemScenario(fakeEnv()));

test("ipset syncer: a new maxelem on the real ipset", { ...skipIf(skip), timeout: 60_000 }, async () => {
  const ns = createNetns("fxipsetm");
  try {
    await maxelemScenario(realEnv(ns));
  } finally {
    deleteNetns(ns);
  }
});
