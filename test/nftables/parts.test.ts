// The split of a family's desired state into our tables (nftables/parts.ts):
// nat chains to `calico-nat`, the rest to `calico`; each set where rules name
// it (both when both do, `calico` when none does); counted change by change,
// and always what a fresh count gives.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { NFT_NAT_TABLE, NFT_TABLE } from "../../nftables/names.js";
import { DesiredSplit, splitDesired } from "../../nftables/parts.js";
import type { NftDesired } from "../../nftables/plan.js";
import { chain, r, set, sets, tables } from "./fixtures.js";

const SETS = sets(
  set("cali40s:a", "hash:net", ["10.0.0.1"]),
  set("cali40s:b", "hash:net", ["10.0.0.2"]),
  set("cali40s:c", "hash:net", ["10.0.0.3"]),
  set("cali40s:d", "hash:net", ["10.0.0.4"]),
);

const setKeys = (d: NftDesired) => Object.keys(d.sets).sort();

test("each set goes where rules name it: filter only, nat only, both, or none (calico)", () => {
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
  assert.deepEqual(setKeys(policy.desired), ["cali40s:a", "cali40s:c", "cali40s:d"]);
  assert.deepEqual(setKeys(nat.desired), ["cali40s:b", "cali40s:c"]);
  // Each iptables table whole in its part, the other part's empty.
  assert.equal(policy.desired.tables.filter, want.tables.filter);
  assert.equal(nat.desired.tables.nat, want.tables.nat);
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
  fc.assert(
    fc.property(fc.array(fc.array(chainArb, { maxLength: 5 }), { minLength: 1, maxLength: 8 }), (steps) => {
      const split = new DesiredSplit();
      for (const step of steps) {
        const parts: Parameters<typeof tables>[0] = {};
        for (const c of step) {
          const rules = c.uses.map((n, i) => r(`ip saddr @${n} accept`, `${c.name}-${i}`));
          const p = parts[c.table] ?? { chains: [], hooks: {} };
          parts[c.table] = p;
          if (c.hook) {
            const hook = c.table === "nat" ? "POSTROUTING" : c.table === "raw" ? "PREROUTING" : "FORWARD";
            p.hooks = { [hook]: { insert: rules, append: [] } };
          } else if (!p.chains?.some((x) => x.name === c.name)) p.chains?.push(chain(c.name, ...rules));
        }
        const want = { tables: tables(parts), sets: SETS };
        const got = split.split(want).map((p) => [p.table, setKeys(p.desired)]);
        const fresh = splitDesired(want).map((p) => [p.table, setKeys(p.desired)]);
        assert.deepEqual(got, fresh);
      }
    }),
    { numRuns: 200, seed: 18 },
  );
});
