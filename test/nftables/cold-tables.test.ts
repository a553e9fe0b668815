// The syncer's cold path per table (nftables/cold-load.ts, table-syncer.ts) against the fake
// behind a streaming adapter: one transaction per table, the nat tables before `calico`, at
// most ColdSlots' number at once across both families, the same kernel as one transaction; a
// table refused is retried (and at last replaced) alone while the others stay; stage 1
// (loadNatFirst) loads only the nat tables not there, and the next apply adopts their views:
// it reads none of them and writes `calico` alone.

import assert from "node:assert/strict";
import { test } from "node:test";
import { chainList, tableState } from "../../model/tables.js";
import { type NftBackend, NftError } from "../../nftables/backend.js";
import { ColdSlots } from "../../nftables/cold-load.js";
import { FakeNftBackend } from "../../nftables/fake-backend.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { chain, r, smallDesired, tables } from "./fixtures.js";

const noSleep = { sleep: async () => {} };

/** The fake with transactParts (as ExecNftBackend streams), recording each load's table and overlap. */
class Streaming implements NftBackend {
  readonly loads: string[] = [];
  readonly lists: string[] = [];
  running = 0;
  peak = 0;
  /** Refuse a load of this table (each time while `refuseTimes` > 0). */
  refuse?: { table: string; times: number };
  /** While set, loads wait for it (the kernel is slow). */
  gate?: Promise<void>;

  constructor(readonly inner: FakeNftBackend) {}
  get family() {
    return this.inner.family;
  }
  transact(script: string) {
    return this.load(script);
  }
  async transactParts(parts: Iterable<string>, onSent?: () => void) {
    const text = [...parts].join("");
    onSent?.();
    return this.load(text);
  }
  private async load(text: string) {
    const tables = [...text.matchAll(/^(?:table|(?:add|delete|flush) \w+) ip6? (\S+)/gm)].map((m) => m[1]);
    const table = [...new Set(tables)].join(",");
    this.loads.push(table);
    this.running++;
    this.peak = Math.max(this.peak, this.running);
    try {
      await new Promise((res) => setTimeout(res, 1));
      await this.gate;
      if (this.refuse && this.refuse.times > 0 && tables.includes(this.refuse.table)) {
        this.refuse.times--;
        throw new NftError(`refused ${this.refuse.table}`);
      }
      await this.inner.transact(text);
    } finally {
      this.running--;
    }
  }
  list(table?: string) {
    this.lists.push(table ?? "calico");
    return this.inner.list(table);
  }
}

/** smallDesired with services in nat shards 1, 2 and 5 (their own tables); `svc2`: shard 2's rule. */
function sharded(svc2 = "counter") {
  const d = smallDesired();
  const svc = (k: number) => ({
    ...chain(`svc-${k}`, r(k === 2 ? svc2 : "counter", k === 2 ? `s2${svc2.length}` : `s${k}`)),
    natShard: k,
  });
  const nat = tableState([...chainList(d.tables.nat), ...[1, 2, 5].map(svc)], d.tables.nat.hooks);
  return { tables: { ...d.tables, nat }, sets: d.sets };
}

const NAT = ["calico-nat", "calico-nat-1", "calico-nat-2", "calico-nat-5"];

async function kernelOf(b: FakeNftBackend) {
  const out: Record<string, string | undefined> = {};
  // Handles are the order of writing: not compared.
  for (const t of ["calico", ...NAT]) out[t] = (await b.list(t))?.replace(/"handle":\d+/g, "");
  return out;
}

/** The kernel a cold start without streaming leaves (one transaction: the fake has no transactParts). */
async function oneTransaction(d: ReturnType<typeof sharded>) {
  const one = new FakeNftBackend("ip");
  await new NftTableSyncer(one, noSleep).apply(d.tables, d.sets);
  assert.equal(one.transactions.length, 1);
  return kernelOf(one);
}

test("cold start: one transaction per table, nat tables first, the kernel of one transaction", async () => {
  const d = sharded();
  const b = new Streaming(new FakeNftBackend("ip"));
  await new NftTableSyncer(b, noSleep).apply(d.tables, d.sets);
  assert.deepEqual(b.loads, [...NAT, "calico"]);
  assert.deepEqual(await kernelOf(b.inner), await oneTransaction(d));
  // Nothing left to write.
  const again = new NftTableSyncer(b, noSleep);
  assert.equal((await again.apply(d.tables, d.sets)).via, "none");
});

test("at most the slots' number of loads at once, both families together", async () => {
  for (const n of [1, 2, 3]) {
    const slots = new ColdSlots(n);
    const v4 = new Streaming(new FakeNftBackend("ip"));
    const v6 = new Streaming(new FakeNftBackend("ip6"));
    let running = 0;
    let peak = 0;
    for (const b of [v4, v6]) {
      const load = b.transactParts.bind(b);
      b.transactParts = async (parts, onSent) => {
        running++;
        peak = Math.max(peak, running);
        try {
          await load(parts, onSent);
        } finally {
          running--;
        }
      };
    }
    const d = sharded();
    // ip6: the services alone (no IPv6 pools), and the IPv6 set in calico.
    const nat6 = tableState(
      chainList(d.tables.nat).filter((c) => c.natShard),
      {},
    );
    await Promise.all([
      new NftTableSyncer(v4, { ...noSleep, coldSlots: slots }).apply(d.tables, d.sets),
      new NftTableSyncer(v6, { ...noSleep, coldSlots: slots }).apply({ ...tables({}), nat: nat6 }, d.sets),
    ]);
    assert.equal(peak, n, `slots ${n}`);
    assert.equal(slots.peak, n);
    assert.deepEqual(v6.loads, ["calico-nat-1", "calico-nat-2", "calico-nat-5", "calico"]);
    assert.equal(v4.loads.length, 5);
  }
});

test("a table refused is retried alone; the others stay and are not written again", async () => {
  const d = sharded();
  const b = new Streaming(new FakeNftBackend("ip"));
  b.refuse = { table: "calico-nat-2", times: 2 };
  const retries: number[] = [];
  await new NftTableSyncer(b, { ...noSleep, onRetry: (a) => retries.push(a) }).apply(d.tables, d.sets);
  assert.deepEqual(retries, [1, 2]);
  assert.deepEqual(b.loads.slice(0, 5).sort(), [...NAT, "calico"].sort());
  assert.deepEqual(b.loads.slice(5), ["calico-nat-2", "calico-nat-2"]);
  for (const t of ["calico", "calico-nat", "calico-nat-1", "calico-nat-5"])
    assert.equal(b.lists.filter((l) => l === t).length, 1, `${t} read once, at start`);
  assert.deepEqual(await kernelOf(b.inner), await oneTransaction(d));
});

test("refused to the last retry: that table alone is replaced, then the error; the others are in", async () => {
  const d = sharded();
  const b = new Streaming(new FakeNftBackend("ip"));
  b.refuse = { table: "calico-nat-1", times: 99 };
  const syncer = new NftTableSyncer(b, { ...noSleep, retries: 3 });
  await assert.rejects(syncer.apply(d.tables, d.sets), /refused calico-nat-1/);
  assert.equal(b.loads.filter((t) => t === "calico").length, 1);
  assert.equal(b.loads.filter((t) => t === "calico-nat-1").length, 4);
  assert.equal(b.loads.filter((t) => t === "calico-nat-2").length, 1, "the last retry replaced nat-1 alone");
  assert.equal(syncer.failures, 4);
  const k = await kernelOf(b.inner);
  assert.equal(k["calico-nat-1"], undefined);
  for (const t of ["calico", "calico-nat", "calico-nat-2", "calico-nat-5"]) assert.ok(k[t], t);
  // Once it is accepted, the next apply writes it alone.
  b.refuse = undefined;
  b.loads.length = 0;
  await syncer.apply(d.tables, d.sets);
  assert.deepEqual(b.loads, ["calico-nat-1"]);
});

test("stage 1: the nat tables alone, loaded whole in two transactions; the next apply reads none of them and writes calico", async () => {
  const d = sharded();
  const b = new Streaming(new FakeNftBackend("ip"));
  const syncer = new NftTableSyncer(b, noSleep);
  let started = false;
  const stage1 = await syncer.loadNatFirst({ tables: d.tables, sets: d.sets }, () => {
    started = true;
  });
  assert.ok(started);
  // Dealt in turn into the slots' number of transactions.
  assert.deepEqual(b.loads, ["calico-nat,calico-nat-2", "calico-nat-1,calico-nat-5"]);
  assert.equal(stage1.via, "nft");
  assert.equal(await b.inner.list("calico"), undefined, "calico untouched");
  b.loads.length = 0;
  b.lists.length = 0;
  const full = await syncer.apply(d.tables, d.sets);
  assert.deepEqual(b.loads, ["calico"]);
  assert.deepEqual(
    b.lists.filter((t) => NAT.includes(t)),
    [],
    "the nat tables' views are stage 1's",
  );
  assert.equal(full.via, "nft");
  assert.deepEqual(await kernelOf(b.inner), await oneTransaction(d));
});

test("stage 1 leaves a nat table that is there to the full apply, which writes the difference", async () => {
  const d = sharded();
  const b = new Streaming(new FakeNftBackend("ip"));
  await new NftTableSyncer(b, noSleep).apply(d.tables, d.sets);
  // Restart with one service's chain changed.
  const changed = sharded("counter drop");
  b.loads.length = 0;
  const syncer = new NftTableSyncer(b, noSleep);
  const stage1 = await syncer.loadNatFirst(changed, () => {});
  assert.equal(stage1.via, "none");
  assert.deepEqual(b.loads, []);
  await syncer.apply(changed.tables, changed.sets);
  assert.deepEqual(b.loads, ["calico-nat-2"], "one diff transaction, of the changed table");
  assert.deepEqual(await kernelOf(b.inner), await oneTransaction(changed));
});
