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

  test("begin(): a change that creates a set writes it whole first; a members-only change is written behind", async () => {
    const k = new FakeIpsetBackend();
    const s = new IpsetSyncer(k);
    const created = await s.begin([set("cali40s:a", ["10.0.0.1"]), set("cali40s:b", ["10.0.0.9"])]);
    assert.equal(created.pending, false, "the new sets and their members are in before the rules load");
    assert.deepEqual(await kernelSets(k), { "cali40s:a": ["10.0.0.1"], "cali40s:b": ["10.0.0.9"] });
    // A release lets the test see the members-only restore in flight.
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const restore = k.restore.bind(k);
    k.restore = async (input: string) => {
      await gate;
      return restore(input);
    };
    const members = await s.begin([set("cali40s:a", ["10.0.0.1", "10.0.0.2"])]);
    assert.equal(
      members.pending,
      true,
      "members only: begin returns while they are written (the rules load meanwhile)",
    );
    assert.deepEqual((await kernelSets(k))["cali40s:a"], ["10.0.0.1"], "not in yet");
    release();
    const r = await members.done;
    assert.equal(r.membersAdded, 1);
    assert.deepEqual((await kernelSets(k))["cali40s:a"], ["10.0.0.1", "10.0.0.2"]);
    const none = await s.begin([set("cali40s:a", ["10.0.0.1", "10.0.0.2"])]);
    assert.equal(none.pending, false, "nothing to write: nothing to wait for");
  });

  test("creates sets with maxelem FELIX_MAXIPSETSIZE, and swaps in a copy when the setting changes", async () => {
    const k = new FakeIpsetBackend();
    await new IpsetSyncer(k, { maxelem: 3 }).addOrUpdate([set("cali40s:m", ["10.0.0.1", "10.0.0.2"])]);
    assert.equal(k.header("cali40s:m"), "hash:net family inet hashsize 1024 maxelem 3");
    // A restart with a larger bound: the set held by rules cannot be re-created, it is swapped.
    k.inUse.add("cali40s:m");
    const five = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"];
    const r = await new IpsetSyncer(k, { maxelem: 10 }).addOrUpdate([set("cali40s:m", five)]);
    assert.equal(r.setsSwapped, 1);
    assert.equal(k.header("cali40s:m"), "hash:net family inet hashsize 1024 maxelem 10");
    assert.deepEqual((await kernelSets(k))["cali40s:m"], five);
    // Unchanged from then on.
    const again = await new IpsetSyncer(k, { maxelem: 10 }).addOrUpdate([set("cali40s:m", five)]);
    assert.equal(again.bytesWritten, 0);
    // The default is Felix's 1048576.
    await new IpsetSyncer(k).addOrUpdate([set("cali40s:n", ["10.0.0.9"])]);
    assert.match(k.header("cali40s:n")!, /maxelem 1048576$/);
  });

  test("the fake refuses more members than maxelem, as the kernel does", async () => {
    const k = new FakeIpsetBackend();
    await assert.rejects(
      k.restore("create cali40s:x hash:net family inet maxelem 1\nadd cali40s:x 10.0.0.1\nadd cali40s:x 10.0.0.2\n"),
      /Hash is full/,
    );
  });

  test("swaps in a rebuilt set of the same type for a large change", async () => {
    const k = new FakeIpsetBackend();
    const s = new IpsetSyncer(k);
    const many = Array.from({ length: SWAP_THRESHOLD + 10 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
    const r2 = await s.addOrUpdate([set("cali40s:b", ["10.9.9.9"])]);
    assert.equal(r2.setsCreated, 1);
    const r3 = await s.addOrUpdate([set("cali40s:b", many)]);
    assert.equal(r3.setsSwapped, 1);
    assert.match(k.restores.at(-1)!, /^swap cali4t\S+ cali40s:b$/m);
    assert.equal(k.sets.get("cali40s:b")!.members.size, many.length);
    assert.deepEqual([...k.sets.keys()], ["cali40s:b"], "temporary set destroyed");
  });

  test("re-creates a set whose type or family changed (the kernel refuses to swap those)", async () => {
    const k = new FakeIpsetBackend();
    await k.restore(
      "create cali40n:a hash:net family inet\nadd cali40n:a 10.0.0.1\ncreate cali40s:b hash:net family inet6\n",
    );
    const s = new IpsetSyncer(k);
    const r = await s.addOrUpdate([
      set("cali40n:a", ["10.0.0.1,tcp:80"], "hash:ip,port"),
      set("cali40s:b", ["10.0.0.2"]),
      set("cali40s:c", ["10.0.0.3"]),
    ]);
    assert.deepEqual([r.setsRecreated, r.setsSwapped, r.setsCreated], [2, 0, 1]);
    assert.deepEqual([r.membersAdded, r.membersRemoved], [3, 1]);
    assert.match(k.header("cali40n:a")!, /^hash:ip,port family inet /);
    assert.match(k.header("cali40s:b")!, /^hash:net family inet /);
    assert.deepEqual(await kernelSets(k), {
      "cali40n:a": ["10.0.0.1,tcp:80"],
      "cali40s:b": ["10.0.0.2"],
      "cali40s:c": ["10.0.0.3"],
    });
    assert.equal(
      (await new IpsetSyncer(k).addOrUpdate([set("cali40n:a", ["10.0.0.1,tcp:80"], "hash:ip,port")])).bytesWritten,
      0,
    );
  });

  test("a mistyped set still referenced fails the apply by name, after every other set is written", async () => {
    const k = new FakeIpsetBackend();
    await k.restore("create cali40n:a hash:net family inet\nadd cali40n:a 10.0.0.1\n");
    k.inUse.add("cali40n:a");
    const s = new IpsetSyncer(k);
    await assert.rejects(
      s.addOrUpdate([set("cali40n:a", ["10.0.0.1,tcp:80"], "hash:ip,port"), set("cali40s:z", ["10.0.0.9"])]),
      {
        message:
          /^IP sets of another type or family under our names could not be re-created \(still referenced\?\): cali40n:a: .*in use by a kernel component/,
      },
    );
    assert.match(k.header("cali40n:a")!, /^hash:net /, "the referenced set is left as it was");
    assert.deepEqual((await kernelSets(k))["cali40s:z"], ["10.0.0.9"]);
    k.inUse.delete("cali40n:a");
    const r = await s.addOrUpdate([set("cali40n:a", ["10.0.0.1,tcp:80"], "hash:ip,port")]);
    assert.equal(r.setsRecreated, 1, "re-read after the failure, then re-created once free");
  });

  test("remembers what it wrote, and re-reads the kernel after invalidate() to repair drift", async () => {
    const k = new FakeIpsetBackend();
    const s = new IpsetSyncer(k);
    const want = [set("cali40s:a", ["10.0.0.1", "10.0.0.2"])];
    await s.addOrUpdate(want);
    assert.equal((await s.addOrUpdate(want)).bytesWritten, 0, "nothing to write the second time");
    await k.restore("del cali40s:a 10.0.0.1\nadd cali40s:a 10.9.9.9\n");
    assert.equal((await s.addOrUpdate(want)).bytesWritten, 0, "drift is not seen until invalidate()");
    s.invalidate();
    const r = await s.addOrUpdate(want);
    assert.deepEqual([r.membersAdded, r.membersRemoved], [1, 1]);
    assert.deepEqual(await kernelSets(k), { "cali40s:a": ["10.0.0.1", "10.0.0.2"] });
  });

  test("a temporary set left by an interrupted swap is replaced, not reused with its members", async () => {
    const k = new FakeIpsetBackend();
    const many = (base: number) =>
      Array.from({ length: SWAP_THRESHOLD + 10 }, (_, i) => `10.${base}.${i >> 8}.${i & 255}`);
    await new IpsetSyncer(k).addOrUpdate([set("cali40s:a", ["10.0.0.1"])]);
    // The agent dies mid-restore: the temporary set is filled, the swap never happens.
    const restore = k.restore.bind(k);
    k.restore = async (input) => {
      k.restore = restore;
      await restore(input.slice(0, input.indexOf("\nswap ")));
      throw new Error("killed");
    };
    await assert.rejects(new IpsetSyncer(k).addOrUpdate([set("cali40s:a", many(1))]), /killed/);
    assert.equal(k.sets.size, 2, "a filled temporary set is left behind");
    const r = await new IpsetSyncer(k).addOrUpdate([set("cali40s:a", many(2))]);
    assert.equal(r.setsSwapped, 1);
    assert.deepEqual((await kernelSets(k))["cali40s:a"], many(2).sort());
    assert.deepEqual([...k.sets.keys()], ["cali40s:a"]);
  });

  test("removeStale: nothing stale writes nothing; many stale sets go in one restore", async () => {
    const k = new FakeIpsetBackend();
    const s = new IpsetSyncer(k);
    await s.addOrUpdate([set("cali40s:a", []), set("cali40s:b", []), set("cali40s:c", []), set("cali40s:d", [])]);
    const before = k.restores.length;
    assert.deepEqual(
      await s.removeStale([set("cali40s:a", []), set("cali40s:b", []), set("cali40s:c", []), set("cali40s:d", [])]),
      {
        destroyed: 0,
        inUse: [],
        bytesWritten: 0,
        restoreMs: 0,
      },
    );
    assert.equal(k.restores.length, before);
    const r = await s.removeStale([set("cali40s:a", [])]);
    assert.deepEqual([r.destroyed, r.inUse], [3, []]);
    assert.deepEqual(k.restores.slice(before), ["destroy cali40s:b\ndestroy cali40s:c\ndestroy cali40s:d\n"]);
  });

  test("destroys stale sets of ours only, and keeps those still in use", async () => {
    const k = new FakeIpsetBackend();
    await k.restore(
      "create KUBE-CLUSTER-IP hash:ip,port\ncreate KUBE-cali4x hash:net\ncreate xcali40s:a hash:net\ncreate cali40s:old hash:net\ncreate cali40s:busy hash:net\n",
    );
    k.inUse.add("cali40s:busy");
    const s = new IpsetSyncer(k);
    await s.addOrUpdate([set("cali40s:new", [])]);
    const r = await s.removeStale([set("cali40s:new", [])]);
    assert.equal(r.destroyed, 1);
    assert.deepEqual(r.inUse, ["cali40s:busy"]);
    assert.deepEqual(Object.keys(await kernelSets(k)).sort(), [
      "KUBE-CLUSTER-IP",
      "KUBE-cali4x",
      "cali40s:busy",
      "cali40s:new",
      "xcali40s:a",
    ]);
  });
});
