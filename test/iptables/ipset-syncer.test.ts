import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { IpSetState } from "../../iptables/ipset.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { IpsetSyncer, SWAP_THRESHOLD } from "../../iptables/ipset-syncer.js";

const set = (name: string, members: string[], type: IpSetState["type"] = "hash:net"): IpSetState => ({
  name,
  family: 4,
  type,
  members: new Set(members),
});

async function kernelSets(k: FakeIpsetBackend) {
  return Object.fromEntries([...k.sets].map(([n, s]) => [n, [...s.members].sort()]));
}

describe("IpsetSyncer", () => {
  test("creates, fills, and then writes only deltas", async () => {
    const k = new FakeIpsetBackend();
    const s = new IpsetSyncer(k);
    await s.addOrUpdate([set("cali40s:a", ["10.0.0.1", "10.0.0.2"])]);
    assert.deepEqual(await kernelSets(k), { "cali40s:a": ["10.0.0.1", "10.0.0.2"] });
    const r = await s.addOrUpdate([set("cali40s:a", ["10.0.0.2", "10.0.0.3"])]);
    assert.deepEqual([r.membersAdded, r.membersRemoved], [1, 1]);
    assert.equal(k.restores.at(-1), "del cali40s:a 10.0.0.1\nadd cali40s:a 10.0.0.3\n");
    const again = await new IpsetSyncer(k).addOrUpdate([set("cali40s:a", ["10.0.0.2", "10.0.0.3"])]);
    assert.equal(again.bytesWritten, 0);
  });

  test("swaps in a rebuilt set for a type change or a large change", async () => {
    const k = new FakeIpsetBackend();
    const s = new IpsetSyncer(k);
    await s.addOrUpdate([set("cali40s:a", ["10.0.0.1"])]);
    const r = await s.addOrUpdate([set("cali40s:a", ["10.0.0.1,tcp:80"], "hash:ip,port")]);
    assert.equal(r.setsSwapped, 1);
    assert.match(k.sets.get("cali40s:a")!.header, /^hash:ip,port/);
    assert.equal([...k.sets.keys()].length, 1, "temporary set destroyed");
    const many = Array.from({ length: SWAP_THRESHOLD + 10 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
    const r2 = await s.addOrUpdate([
      set("cali40s:b", ["10.9.9.9"]),
      set("cali40s:a", ["10.0.0.1,tcp:80"], "hash:ip,port"),
    ]);
    assert.equal(r2.setsCreated, 1);
    const r3 = await s.addOrUpdate([set("cali40s:b", many), set("cali40s:a", ["10.0.0.1,tcp:80"], "hash:ip,port")]);
    assert.equal(r3.setsSwapped, 1);
    assert.equal(k.sets.get("cali40s:b")!.members.size, many.length);
  });

  test("destroys stale sets of ours only, and keeps those still in use", async () => {
    const k = new FakeIpsetBackend();
    await k.restore("create KUBE-CLUSTER-IP hash:ip,port\ncreate cali40s:old hash:net\ncreate cali40s:busy hash:net\n");
    k.inUse.add("cali40s:busy");
    const s = new IpsetSyncer(k);
    await s.addOrUpdate([set("cali40s:new", [])]);
    const r = await s.removeStale([set("cali40s:new", [])]);
    assert.equal(r.destroyed, 1);
    assert.deepEqual(r.inUse, ["cali40s:busy"]);
    assert.deepEqual(Object.keys(await kernelSets(k)).sort(), ["KUBE-CLUSTER-IP", "cali40s:busy", "cali40s:new"]);
  });
});
