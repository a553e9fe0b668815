// The split of a family's desired state into our tables (nftables/parts.ts):
// nat chains to the nat tables by shard (`calico-nat` when untagged), the rest
// to `calico`; each set where rules name it (in each table whose rules do,
// `calico` when none does); counted change by change, and always what a fresh
// count gives.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ipSetNames, ipSetOf, ipSetsOf } from "../../model/ipset-shards.js";
import { EVERY_NAT_SHARD, NAT_SHARDS, type NatShard } from "../../model/nat-shards.js";
import { chainList, type RenderedChain, type TableState } from "../../model/tables.js";
import { NFT_NAT_TABLE, NFT_NAT_TABLES, NFT_TABLE, natTableName } from "../../nftables/names.js";
import { NatSplit } from "../../nftables/nat-split.js";
import { DesiredSplit, splitDesired } from "../../nftables/parts.js";
import type { NftDesired } from "../../nftables/plan.js";
import { chain, r, set, sets, tables } from "./fixtures.js";

const SETS = sets(
  set("cali40s:a", "hash:net", ["10.0.0.1"]),
  set("cali40s:b", "hash:net", ["10.0.0.2"]),
  set("cali40s:c", "hash:net", ["10.0.0.3"]),
  set("cali40s:d", "hash:net", ["10.0.0.4"]),
);

const setKeys = (d: NftDesired) => ipSetNames(d.sets).sort();

test("every set is in calico (the desired record itself), and in each nat table whose rules name it", () => {
  const want: NftDesired = {
    tables: tables({
      filter: { chains: [chain("cali-x", r("ip saddr @cali40s.a accept", "x1"), r("ip saddr @cali40s.c drop", "x2"))] },
      nat: {
        chains: [chain("cali-nat", r("ip saddr @cali40s.b masquerade", "n1"))],
        hooks: { POSTROUTING: { insert: [r("ip daddr @cali40s.c jump nat-cali-nat", "h1")], append: [] } },
      },
    }),
    sets: SETS,
  };
  const [policy, nat] = splitDesired(want);
  assert.equal(policy.table, NFT_TABLE);
  assert.equal(nat.table, NFT_NAT_TABLE);
  assert.equal(policy.desired.sets, want.sets, "calico's sets are the desired record: nothing copied");
  assert.deepEqual(setKeys(nat.desired), ["cali40s:b", "cali40s:c"]);
  // Each iptables table whole in its part, the other part's empty.
  assert.equal(policy.desired.tables.filter, want.tables.filter);
  assert.deepEqual(nat.desired.tables.nat, want.tables.nat);
  assert.deepEqual(Object.keys(nat.desired.tables.filter.shards), []);
  assert.deepEqual(Object.keys(policy.desired.tables.nat.hooks), []);
});

test("an @ in a quoted string (a log prefix) names no set: a tenant's text cannot move a set", () => {
  const want: NftDesired = {
    tables: tables({
      nat: { chains: [chain("cali-nat", r('log prefix "x @cali40s.a y"', "n1"))] },
    }),
    sets: SETS,
  };
  const [policy, nat] = splitDesired(want);
  assert.deepEqual(setKeys(nat.desired), []);
  assert.deepEqual(setKeys(policy.desired), ["cali40s:a", "cali40s:b", "cali40s:c", "cali40s:d"]);
});

test("a change in one part keeps the other part's tables and sets the same objects (the planner compares by identity)", () => {
  const split = new DesiredSplit();
  const nat = tables({ nat: { chains: [chain("cali-nat", r("ip saddr @cali40s.b masquerade", "n1"))] } }).nat;
  const base = tables({ filter: { chains: [chain("cali-x", r("ip saddr @cali40s.a accept", "x1"))] } });
  const [p0, n0] = split.split({ tables: { ...base, nat }, sets: SETS });
  const filter = tables({ filter: { chains: [chain("cali-x", r("ip saddr @cali40s.a drop", "x2"))] } }).filter;
  const [p1, n1] = split.split({ tables: { ...base, filter, nat }, sets: SETS });
  assert.equal(n1.desired.tables, n0.desired.tables, "the nat part did not change");
  assert.equal(n1.desired.sets, n0.desired.sets);
  assert.equal(p1.desired.sets, p0.desired.sets, "no set changed place");
  assert.notEqual(p1.desired.tables, p0.desired.tables);
});

const NAMES = ["cali40s.a", "cali40s.b", "cali40s.c", "cali40s.d"];
const chainArb = fc.record({
  table: fc.constantFrom("filter" as const, "nat" as const, "raw" as const),
  name: fc.constantFrom("cali-1", "cali-2", "cali-3"),
  uses: fc.array(fc.constantFrom(...NAMES), { maxLength: 3 }),
  hook: fc.boolean(),
});

test("counted change by change, the split is always what a fresh count gives", () => {
  const SET_KEYS = ipSetNames(SETS);
  const stepArb = fc.record({
    // null: the tables stay the same objects (only the sets change: they are placed again one by one).
    chains: fc.option(fc.array(chainArb, { maxLength: 5 }), { nil: null }),
    sets: fc.subarray(SET_KEYS),
    fresh: fc.subarray(SET_KEYS),
  });
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 1, maxLength: 10 }), (steps) => {
      const split = new DesiredSplit();
      let want: NftDesired | undefined;
      for (const step of steps) {
        let t = want?.tables;
        if (step.chains || !t) {
          const parts: Parameters<typeof tables>[0] = {};
          for (const c of step.chains ?? []) {
            const rules = c.uses.map((n, i) => r(`ip saddr @${n} accept`, `${c.name}-${i}`));
            const p = parts[c.table] ?? { chains: [], hooks: {} };
            parts[c.table] = p;
            if (c.hook) {
              const hook = c.table === "nat" ? "POSTROUTING" : c.table === "raw" ? "PREROUTING" : "FORWARD";
              p.hooks = { [hook]: { insert: rules, append: [] } };
            } else if (!p.chains?.some((x) => x.name === c.name)) p.chains?.push(chain(c.name, ...rules));
          }
          t = tables(parts);
        }
        // A set kept is the same object unless `fresh` names it (its members changed).
        const sets = ipSetsOf(
          step.sets.map((k) => {
            const s = ipSetOf(SETS, k)!;
            return step.fresh.includes(k) ? { ...s } : ((want && ipSetOf(want.sets, k)) ?? s);
          }),
        );
        want = { tables: t, sets };
        const got = split.split(want).map((p) => [p.table, setKeys(p.desired)]);
        const fresh = splitDesired(want).map((p) => [p.table, setKeys(p.desired)]);
        assert.deepEqual(got, fresh);
      }
    }),
    { numRuns: 300, seed: 18 },
  );
});

test("nat shards: each chain in its shard's table, a copy of an every-shard chain in each table present, hooks by stage; sets follow", () => {
  const want: NftDesired = {
    tables: tables({
      nat: {
        chains: [
          chain("cali-nat", r("masquerade", "n1")),
          { ...chain("svc-a", r("ip saddr @cali40s.a jump nat-mark", "a1")), natShard: 3 },
          { ...chain("svc-b", r("ip saddr @cali40s.a jump nat-mark", "b1")), natShard: 3 },
          { ...chain("mark", r("meta mark set 0x1", "m1")), natShard: EVERY_NAT_SHARD },
        ],
        hooks: {
          PREROUTING: { insert: [r("jump nat-cali-nat", "h0")], append: [] },
          "PREROUTING-3": { insert: [r("jump nat-svc-a", "h3")], append: [] },
          "OUTPUT-NODEPORTS-3": { insert: [r("jump nat-svc-b", "h3n")], append: [] },
        },
      },
    }),
    sets: SETS,
  };
  const parts = splitDesired(want);
  assert.deepEqual(
    parts.map((p) => p.table),
    [NFT_TABLE, ...NFT_NAT_TABLES],
  );
  const natOf = (k: number) => parts.find((p) => p.table === natTableName(k))!.desired;
  const names = (k: number) =>
    chainList(natOf(k).tables.nat)
      .map((c) => c.name)
      .sort();
  assert.deepEqual(names(0), ["cali-nat", "mark"]);
  assert.deepEqual(names(3), ["mark", "svc-a", "svc-b"]);
  assert.deepEqual(Object.keys(natOf(3).tables.nat.hooks).sort(), ["OUTPUT-NODEPORTS-3", "PREROUTING-3"]);
  assert.deepEqual(Object.keys(natOf(0).tables.nat.hooks), ["PREROUTING"]);
  for (const k of [1, 2, 4, 5, 6, 7]) assert.deepEqual(names(k), [], `shard ${k} is not there`);
  // cali40s.a in the shard that names it (and in calico, as every set).
  assert.deepEqual(setKeys(natOf(3)), ["cali40s:a"]);
  assert.deepEqual(setKeys(natOf(0)), []);
  assert.deepEqual(setKeys(parts[0].desired), ["cali40s:a", "cali40s:b", "cali40s:c", "cali40s:d"]);
  assert.throws(
    () => splitDesired({ tables: tables({ nat: { chains: [{ ...chain("x"), natShard: NAT_SHARDS }] } }), sets: SETS }),
    /out of range/,
  );
});

const natChainArb = fc.record({
  name: fc.constantFrom("c1", "c2", "c3", "c4", "mark"),
  shard: fc.constantFrom<NatShard>(0, 1, 5, 7, EVERY_NAT_SHARD),
  rules: fc.constantFrom("r1", "r2"),
});
const hookArb = fc.constantFrom("PREROUTING", "POSTROUTING", "PREROUTING-1", "OUTPUT-NODEPORTS-5", "OUTPUT-7");

/** What the nat split must give, computed afresh: per shard, its chains and hooks (EMPTY when not present). */
function freshNat(nat: TableState): { chains: string[]; hooks: string[] }[] {
  const own = Array.from({ length: NAT_SHARDS }, () => [] as string[]);
  const every: string[] = [];
  for (const c of chainList(nat)) {
    const s = c.natShard ?? 0;
    const key = `${c.name}:${c.rules[0]?.hash ?? ""}`;
    if (s === EVERY_NAT_SHARD) every.push(key);
    else own[s].push(key);
  }
  const hooks = Array.from({ length: NAT_SHARDS }, () => [] as string[]);
  for (const h of Object.keys(nat.hooks)) hooks[Number(/-(\d)$/.exec(h)?.[1] ?? 0)].push(h);
  return own.map((chains, k) => {
    const present = k === 0 || chains.length > 0 || hooks[k].length > 0;
    return present ? { chains: [...chains, ...every].sort(), hooks: hooks[k].sort() } : { chains: [], hooks: [] };
  });
}

test("nat shards, change by change (objects kept between steps as the graph keeps them): always what a fresh split gives", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ chains: fc.array(natChainArb, { maxLength: 6 }), hooks: fc.array(hookArb, { maxLength: 3 }) }),
        {
          minLength: 1,
          maxLength: 10,
        },
      ),
      (steps) => {
        const split = new NatSplit();
        // One object per distinct chain, as the graph keeps an unchanged chain's object.
        const objects = new Map<string, RenderedChain>();
        const hookRules = { insert: [r("jump nat-c1", "h")], append: [] };
        for (const step of steps) {
          const chains = new Map<string, RenderedChain>();
          for (const c of step.chains) {
            const key = `${c.name}/${c.shard}/${c.rules}`;
            if (!objects.has(key)) objects.set(key, { ...chain(c.name, r("counter", c.rules)), natShard: c.shard });
            chains.set(c.name, objects.get(key)!);
          }
          const nat = tables({
            nat: { chains: [...chains.values()], hooks: Object.fromEntries(step.hooks.map((h) => [h, hookRules])) },
          }).nat;
          const got = split.split(nat).map((t) => ({
            chains: chainList(t)
              .map((c) => `${c.name}:${c.rules[0]?.hash ?? ""}`)
              .sort(),
            hooks: Object.keys(t.hooks).sort(),
          }));
          assert.deepEqual(got, freshNat(nat));
        }
      },
    ),
    { numRuns: 300, seed: 18 },
  );
});
