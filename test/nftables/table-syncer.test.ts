// The nftables table syncer against the fake: a cold start is one transaction
// of the whole table, a change writes only the difference in one transaction
// (in an order the kernel accepts), drift is repaired after a refresh, and
// refused transactions are retried after a fresh read.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ipSetOf, ipSetsOf, withIpSets } from "../../model/ipset-shards.js";
import { NftError } from "../../nftables/backend.js";
import { FakeNftBackend } from "../../nftables/fake-backend.js";
import { NFT_NAT_TABLES } from "../../nftables/names.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { renderedParts, renderNftTable } from "../../nftables/table-text.js";
import { parseNftJson } from "../../nftables/view.js";
import { chain, ourView, r, set, smallDesired, tables } from "./fixtures.js";

const noSleep = { sleep: async () => {} };

async function started() {
  const nft = new FakeNftBackend("ip");
  const syncer = new NftTableSyncer(nft, noSleep);
  const d = smallDesired();
  await syncer.apply(d.tables, d.sets);
  return { nft, syncer, d };
}

/** The fake's table as a view, for comparing with a fresh cold load. */
async function viewOf(nft: FakeNftBackend) {
  const v = (await ourView(nft))!;
  return {
    chains: Object.fromEntries([...v.chains].sort(([a], [b]) => (a < b ? -1 : 1))),
    sets: Object.fromEntries([...v.sets].map(([n, s]) => [n, { ...s, elements: [...s.elements].sort() }])),
  };
}

async function coldView(d: ReturnType<typeof smallDesired>) {
  const fresh = new FakeNftBackend("ip");
  await new NftTableSyncer(fresh).apply(d.tables, d.sets);
  return viewOf(fresh);
}

test("cold start: one transaction, the full table text, and only our family's sets (every one in calico)", async () => {
  const { nft, d } = await started();
  assert.equal(nft.transactions.length, 1);
  assert.equal(nft.transactions[0], renderNftTable("ip", d.tables, d.sets));
  const v = (await ourView(nft))!;
  assert.deepEqual([...v.sets.keys()].sort(), ["cali40n.web", "cali40s.frontend", "cali40s.pools"]);
  // Every set in `calico`; the NAT pools also in `calico-nat`, whose rules use them; the IPv6 ones in neither.
  assert.deepEqual([...parseNftJson((await nft.list("calico"))!).sets.keys()].sort(), [
    "cali40n.web",
    "cali40s.frontend",
    "cali40s.pools",
  ]);
  assert.deepEqual([...parseNftJson((await nft.list("calico-nat"))!).sets.keys()], ["cali40s.pools"]);
  assert.deepEqual([...parseNftJson((await nft.list("calico-nat"))!).chains.keys()].sort(), [
    "nat-POSTROUTING",
    "nat-cali-nat-outgoing",
  ]);
  // Covered members are left out of interval sets (the kernel refuses overlaps).
  assert.deepEqual([...v.sets.get("cali40s.pools")!.elements], ["10.0.0.0/16"]);
  assert.deepEqual(v.chains.get("filter-FORWARD")?.base, {
    type: "filter",
    hook: "forward",
    priority: 0,
    policy: "accept",
  });
  assert.deepEqual(v.chains.get("nat-POSTROUTING")?.base, {
    type: "nat",
    hook: "postrouting",
    priority: 100,
    policy: "accept",
  });
});

test("the same desired state again writes nothing; a second syncer reading the kernel writes nothing", async () => {
  const { nft, syncer, d } = await started();
  const again = await syncer.apply(d.tables, d.sets);
  assert.equal(again.bytesWritten, 0);
  const second = await new NftTableSyncer(nft).apply(smallDesired().tables, smallDesired().sets);
  assert.equal(second.linesWritten, 0);
  assert.equal(nft.transactions.length, 1);
});

test("one element added: the transaction holds only that element", async () => {
  const { nft, syncer, d } = await started();
  const web = ipSetOf(d.sets, "cali40n:web")!;
  const next = withIpSets(d.sets, [[web.name, set(web.name, web.type, [...web.members, "10.0.1.7,udp:53"])]]);
  const res = await syncer.apply(d.tables, next);
  assert.equal(nft.transactions.at(-1), "add element ip calico cali40n.web { 10.0.1.7 . udp . 53 }\n");
  assert.equal(res.elementsAdded, 1);
  assert.equal(res.chainsWritten, 0);
});

test("one element removed and another covering it: deletes come first", async () => {
  const { nft, syncer, d } = await started();
  const next = withIpSets(d.sets, [["cali40s:pools", set("cali40s:pools", "hash:net", ["10.0.1.1", "10.0.9.0/24"])]]);
  await syncer.apply(d.tables, next);
  // In each table that holds the set, in one transaction.
  const each = (t: string) =>
    `delete element ip ${t} cali40s.pools { 10.0.0.0/16 }\nadd element ip ${t} cali40s.pools { 10.0.1.1, 10.0.9.0/24 }\n`;
  assert.equal(nft.transactions.at(-1), `${each("calico")}\n${each("calico-nat")}`);
});

test("one chain changed: only that chain is flushed and refilled", async () => {
  const { nft, syncer, d } = await started();
  const fw = chain("cali-fw-cali1234", r("ct state established,related accept", "fw1"), r("drop", "fw9"));
  const t = tables({
    filter: {
      chains: [
        fw,
        chain("cali-from-wl-dispatch", r('iifname "cali1234" goto filter-cali-fw-cali1234', "d1"), r("drop", "d2")),
        chain("cali-FORWARD", r('iifname "cali*" jump filter-cali-from-wl-dispatch', "f1")),
      ],
      hooks: d.tables.filter.hooks,
    },
  });
  const next = { ...d.tables, filter: t.filter };
  const res = await syncer.apply(next, d.sets);
  assert.equal(
    nft.transactions.at(-1),
    [
      "flush chain ip calico filter-cali-fw-cali1234",
      'add rule ip calico filter-cali-fw-cali1234 ct state established,related accept comment "cali:fw1"',
      'add rule ip calico filter-cali-fw-cali1234 drop comment "cali:fw9"',
      "",
    ].join("\n"),
  );
  assert.equal(res.chainsWritten, 1);
  assert.deepEqual(await viewOf(nft), await coldView({ tables: next, sets: d.sets }));
});

test("a new chain, its jump and its new set come in one transaction in an order nft accepts; removing them deletes after the flush", async () => {
  const { nft, syncer, d } = await started();
  const extra = set("cali40s:db", "hash:net", ["10.0.5.0/24"]);
  const pi = chain("cali-pi-db", r("ip saddr @cali40s.db accept", "p1"));
  const fwd = chain(
    "cali-FORWARD",
    r('iifname "cali*" jump filter-cali-from-wl-dispatch', "f1"),
    r("jump filter-cali-pi-db", "f2"),
  );
  const with_ = {
    ...d.tables,
    filter: tables({ filter: { chains: [...chainsOf(d), pi, fwd], hooks: d.tables.filter.hooks } }).filter,
  };
  await syncer.apply(with_, withIpSets(d.sets, [[extra.name, extra]]));
  const script = nft.transactions.at(-1)!;
  const at = (s: string) => script.indexOf(s);
  assert.ok(at("add set ip calico cali40s.db") < at("add chain ip calico filter-cali-pi-db"));
  assert.ok(at("add chain ip calico filter-cali-pi-db") < at("add rule ip calico filter-cali-FORWARD"));
  assert.ok(!/filter-cali-fw-cali1234|nat-/.test(script), "untouched chains are not written");
  // And back: the jump goes before the chain and the set it used.
  await syncer.apply(d.tables, d.sets);
  const back = nft.transactions.at(-1)!;
  assert.ok(
    back.indexOf("flush chain ip calico filter-cali-FORWARD") <
      back.indexOf("delete chain ip calico filter-cali-pi-db"),
  );
  assert.ok(back.indexOf("flush chain ip calico filter-cali-pi-db") < back.indexOf("delete set ip calico cali40s.db"));
  assert.deepEqual(await viewOf(nft), await coldView(d));
});

function chainsOf(d: ReturnType<typeof smallDesired>) {
  return Object.values(d.tables.filter.shards)
    .flatMap((s) => Object.values(s))
    .filter((c) => c.name !== "cali-FORWARD");
}

test("drift (a rule deleted, an element deleted, a foreign rule added) is repaired after a refresh, and only it", async () => {
  const { nft, syncer, d } = await started();
  const handle = JSON.parse((await nft.list())!).nftables.find(
    (i: { rule?: { comment?: string } }) => i.rule?.comment === "cali:fw2",
  ).rule.handle;
  await nft.transact(
    [
      `delete rule ip calico filter-cali-fw-cali1234 handle ${handle}`,
      "delete element ip calico cali40n.web { 10.0.1.5 . tcp . 80 }",
      'add rule ip calico filter-cali-FORWARD accept comment "someone"',
      "",
    ].join("\n"),
  );
  assert.equal((await syncer.apply(d.tables, d.sets)).linesWritten, 0, "the cached view is trusted until a refresh");
  syncer.invalidate();
  await syncer.apply(d.tables, d.sets);
  const fix = nft.transactions.at(-1)!;
  assert.match(fix, /^add element ip calico cali40n.web \{ 10.0.1.5 . tcp . 80 \}$/m);
  assert.match(fix, /^flush chain ip calico filter-cali-fw-cali1234$/m);
  assert.match(fix, /^flush chain ip calico filter-cali-FORWARD$/m);
  const touched = fix.split("\n").map((l) => l.split(" ").slice(0, 5).join(" "));
  assert.ok(!touched.some((l) => /dispatch|nat-|frontend/.test(l)), `only the drifted objects: ${fix}`);
  assert.deepEqual(await viewOf(nft), await coldView(d));
});

test("a stale chain and set left by an earlier run are removed at start", async () => {
  const nft = new FakeNftBackend("ip");
  const d = smallDesired();
  await new NftTableSyncer(nft).apply(
    {
      ...d.tables,
      filter: tables({
        filter: {
          chains: [
            ...chainsOf(d),
            chain("cali-old", r("ip saddr @cali40s.old drop", "o1")),
            chain("cali-FORWARD", r("jump filter-cali-old", "f0")),
          ],
          hooks: d.tables.filter.hooks,
        },
      }).filter,
    },
    withIpSets(d.sets, [["cali40s:old", set("cali40s:old", "hash:net", ["10.9.0.0/16"])]]),
  );
  await new NftTableSyncer(nft).apply(d.tables, d.sets);
  assert.deepEqual(await viewOf(nft), await coldView(d));
});

test("a set whose type changed is re-created, its users re-added after it", async () => {
  const { nft, syncer, d } = await started();
  const next = withIpSets(d.sets, [
    ["cali40n:web", set("cali40n:web", "hash:ip,port,ip", ["10.0.1.5,tcp:80,10.0.0.1"])],
  ]);
  await syncer.apply(d.tables, next);
  const s = nft.transactions.at(-1)!;
  assert.ok(s.indexOf("flush chain ip calico filter-cali-fw-cali1234") < s.indexOf("delete set ip calico cali40n.web"));
  assert.ok(s.indexOf("add set ip calico cali40n.web") < s.indexOf("add rule ip calico filter-cali-fw-cali1234"));
});

test("a refused transaction is retried after a fresh read; retries give up with the error", async () => {
  const { nft, syncer, d } = await started();
  nft.failNext = 2;
  const retried: number[] = [];
  const s2 = new NftTableSyncer(nft, { ...noSleep, onRetry: (n) => retried.push(n) });
  const next = withIpSets(d.sets, [
    ["cali40s:pools", set("cali40s:pools", "hash:net", ["10.0.0.0/16", "10.7.0.0/16"])],
  ]);
  await s2.apply(d.tables, next);
  assert.deepEqual(retried, [1, 2]);
  assert.equal(s2.failures, 2);
  const third = withIpSets(next, [["cali40s:db", set("cali40s:db", "hash:net", ["10.5.0.0/16"])]]);
  nft.failNext = 10;
  await assert.rejects(syncer.apply(d.tables, third), NftError);
  assert.equal(syncer.failures, 6, "the first try and five retries");
  nft.failNext = 0;
  await syncer.apply(d.tables, next);
  assert.deepEqual(await viewOf(nft), await coldView({ tables: d.tables, sets: next }));
});

test("someone deleting our tables: the next refresh loads them again in one transaction", async () => {
  const { nft, syncer, d } = await started();
  await nft.transact("delete table ip calico\ndelete table ip calico-nat\n");
  syncer.invalidate();
  await syncer.apply(d.tables, d.sets);
  assert.equal(nft.transactions.at(-1), renderNftTable("ip", d.tables, d.sets));
});

test("a rule text that would start a second command is refused before anything is written", async () => {
  const { nft, syncer, d } = await started();
  for (const body of [
    "accept; flush ruleset",
    "accept\nflush ruleset",
    "accept } chain x {",
    'accept comment "x',
  ] as const) {
    const bad = tables({ filter: { chains: [chain("cali-bad", { text: body, hash: "b" })] } });
    await assert.rejects(syncer.apply({ ...d.tables, filter: bad.filter }, d.sets), /refusing nft input/);
  }
  assert.equal(nft.transactions.length, 1);
});

test("the ip6 syncer writes the ip6 table with the IPv6 sets only", async () => {
  const nft = new FakeNftBackend("ip6");
  const d = smallDesired();
  const six = tables({ filter: { chains: [chain("cali-x", r("ip6 saddr @cali60s.frontend accept", "x1"))] } });
  await new NftTableSyncer(nft).apply(six, d.sets);
  assert.match(
    nft.transactions[0],
    /^table ip6 calico \{\n\tset cali60s.frontend \{\n\t\ttype ipv6_addr\n\t\telements = \{ fd00::1 \}/,
  );
  assert.ok(!nft.transactions[0].includes("cali40"));
});

test("when every diff fails, the last retry replaces our table in one transaction without reading it; other tables stay", async () => {
  const { nft, d } = await started();
  await nft.transact("add table ip filter\nadd chain ip filter FORWARD\nadd rule ip filter FORWARD accept\n");
  const foreign = JSON.stringify([...nft.tables.get("ip filter")!.chains]);
  nft.failListNext = 10;
  const syncer = new NftTableSyncer(nft, { ...noSleep, retries: 3 });
  const next = withIpSets(d.sets, [["cali40s:pools", set("cali40s:pools", "hash:net", ["10.3.0.0/16"])]]);
  await syncer.apply(d.tables, next);
  assert.equal(syncer.failures, 3);
  nft.failListNext = 0;
  const [policy, nat] = renderedParts("ip", d.tables, next).map((p) => p.text);
  // The nat shards without services are not desired: replaced by nothing (a stale one would go too).
  const gone = NFT_NAT_TABLES.slice(1).map((t) => `\nadd table ip ${t}\ndelete table ip ${t}\n`);
  assert.equal(
    nft.transactions.at(-1),
    `add table ip calico\ndelete table ip calico\n${policy}\nadd table ip calico-nat\ndelete table ip calico-nat\n${nat}${gone.join("")}`,
  );
  assert.deepEqual(await viewOf(nft), await coldView({ tables: d.tables, sets: next }));
  assert.equal(JSON.stringify([...nft.tables.get("ip filter")!.chains]), foreign);
  // And the next change is a diff again.
  await syncer.apply(d.tables, d.sets);
  assert.match(
    nft.transactions.at(-1)!,
    /^delete element ip calico cali40s.pools[\s\S]*delete element ip calico-nat cali40s.pools/,
  );
});

test("a chain in our table whose name is not one token is never written back: the last retry replaces the table", async () => {
  const { nft, d } = await started();
  await nft.transact("add chain ip calico x;flush\n"); // what nft's parser forbids, netlink allows
  const syncer = new NftTableSyncer(nft, noSleep);
  await syncer.apply(d.tables, d.sets);
  assert.ok(!nft.transactions.slice(2).some((t) => t.includes("x;flush")), "the name was never spliced in");
  assert.match(nft.transactions.at(-1)!, /^add table ip calico\ndelete table ip calico\n/);
  assert.deepEqual(await viewOf(nft), await coldView(d));
});

test("a selector set gaining its first CIDR becomes an interval set, its users rewritten after it, in one transaction; and back", async () => {
  const { nft, syncer, d } = await started();
  const plain = withIpSets(d.sets, [
    ["cali40s:frontend", set("cali40s:frontend", "hash:net", ["10.0.1.1", "10.0.1.2"])],
  ]);
  await syncer.apply(d.tables, plain);
  const toPlain = nft.transactions.at(-1)!;
  assert.match(toPlain, /^add set ip calico cali40s.frontend \{ type ipv4_addr; \}$/m);
  const cidr = withIpSets(d.sets, [
    ["cali40s:frontend", set("cali40s:frontend", "hash:net", ["10.0.1.1", "10.0.8.0/24"])],
  ]);
  await syncer.apply(d.tables, cidr);
  const s = nft.transactions.at(-1)!;
  assert.ok(
    s.indexOf("flush chain ip calico filter-cali-fw-cali1234") < s.indexOf("delete set ip calico cali40s.frontend"),
  );
  assert.ok(s.indexOf("add set ip calico cali40s.frontend { type ipv4_addr; flags interval; }") > 0);
  assert.ok(s.indexOf("add set ip calico cali40s.frontend") < s.indexOf("add rule ip calico filter-cali-fw-cali1234"));
  const touched = s.split("\n").map((l) => l.split(" ").slice(0, 5).join(" "));
  assert.ok(!touched.some((l) => /filter-cali-from-wl-dispatch|nat-/.test(l)), s);
  assert.equal(nft.transactions.length, 3, "one transaction each");
  assert.deepEqual(await viewOf(nft), await coldView({ tables: d.tables, sets: cidr }));
});

test("a change reads only the chains and sets that changed: the others are not even looked at (O(change))", async () => {
  const nft = new FakeNftBackend("ip");
  const syncer = new NftTableSyncer(nft);
  let armed = false;
  /** A chain or set whose contents throw once armed: reading it would fail the apply. */
  const tripwire = <T extends object>(o: T, key: keyof T): T => {
    const value = o[key];
    return Object.defineProperty({ ...o }, key, {
      get: () => {
        if (armed) throw new Error(`read ${String(key)} of an unchanged object`);
        return value;
      },
      enumerable: true,
    });
  };
  const many = Array.from({ length: 300 }, (_, i) => tripwire(chain(`cali-tw-x${i}`, r("drop", `x${i}`)), "rules"));
  const sets0 = ipSetsOf(
    Array.from({ length: 100 }, (_, i) => tripwire(set(`cali40s:x${i}`, "hash:net", [`10.1.${i}.1`]), "members")),
  );
  const t0 = tables({ filter: { chains: [...many, chain("cali-pi-p", r("accept", "p1"))] } });
  await syncer.apply(t0, sets0);
  armed = true;
  // The next snapshot shares every unchanged shard and set object, as immer's do.
  const filter = { ...t0.filter, shards: { ...t0.filter.shards } };
  const k = Object.keys(filter.shards).find((s) => "cali-pi-p" in filter.shards[s])!;
  filter.shards[k] = { ...filter.shards[k], "cali-pi-p": chain("cali-pi-p", r("drop", "p2")) };
  const extra = set("cali40s:new", "hash:net", ["10.9.0.1"]);
  await syncer.apply({ ...t0, filter }, withIpSets(sets0, [[extra.name, extra]]));
  assert.equal(
    nft.transactions.at(-1),
    [
      "flush chain ip calico filter-cali-pi-p",
      "add set ip calico cali40s.new { type ipv4_addr; }",
      "add element ip calico cali40s.new { 10.9.0.1 }",
      'add rule ip calico filter-cali-pi-p drop comment "cali:p2"',
      "",
    ].join("\n"),
  );
});
