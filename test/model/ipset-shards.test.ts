import assert from "node:assert/strict";
import { test } from "node:test";
import type { IpSetState } from "../../model/ipset.js";
import {
  changedIpSets,
  IPSET_SHARDS,
  ipSetCount,
  ipSetList,
  ipSetNames,
  ipSetOf,
  ipSetShard,
  ipSetsOf,
  withIpSets,
} from "../../model/ipset-shards.js";

const set = (name: string, ...members: string[]): IpSetState => ({
  name,
  family: 4,
  type: "hash:net",
  members: new Set(members),
});

const SETS = Array.from({ length: 200 }, (_, i) => set(`cali40s:s${i}`, `10.0.${i}.1`));

test("every set is found by name, listed once, counted", () => {
  const s = ipSetsOf(SETS);
  assert.equal(s.length, IPSET_SHARDS);
  for (const x of SETS) assert.equal(ipSetOf(s, x.name), x);
  assert.equal(ipSetOf(s, "cali40s:none"), undefined);
  assert.equal(ipSetOf(s, "toString"), undefined, "a shard has no prototype keys");
  assert.deepEqual(ipSetNames(s).sort(), SETS.map((x) => x.name).sort());
  assert.equal(ipSetList(s).length, SETS.length);
  assert.equal(ipSetCount(s), SETS.length);
});

test("withIpSets copies only the shards it changes, leaves its base alone, and is the base when nothing changes", () => {
  const a = ipSetsOf(SETS);
  assert.equal(withIpSets(a, [[SETS[3].name, SETS[3]]]), a, "the same object written: no copy");
  assert.equal(withIpSets(a, [["cali40s:none", undefined]]), a, "an absent set deleted: no copy");
  const changed = set(SETS[3].name, "10.9.9.9");
  const added = set("cali40s:new", "10.8.8.8");
  const b = withIpSets(a, [
    [changed.name, changed],
    [added.name, added],
    [SETS[7].name, undefined],
  ]);
  assert.equal(ipSetOf(a, SETS[3].name), SETS[3], "the base is not written");
  assert.equal(ipSetOf(a, "cali40s:new"), undefined);
  assert.equal(ipSetOf(b, changed.name), changed);
  assert.equal(ipSetOf(b, added.name), added);
  assert.equal(ipSetOf(b, SETS[7].name), undefined);
  const touched = new Set([changed.name, added.name, SETS[7].name].map(ipSetShard));
  for (let i = 0; i < IPSET_SHARDS; i++) assert.equal(a[i] === b[i], !touched.has(i), `shard ${i}`);
  assert.deepEqual(changedIpSets(a, b).sort(), [added.name, changed.name, SETS[7].name].sort());
  assert.deepEqual(changedIpSets(b, b), []);
});
