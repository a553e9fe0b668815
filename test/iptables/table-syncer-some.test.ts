// TableSyncer's SomeTables write (stage 1 of a cold start, src/nat-first.ts):
// only the named tables are planned and written, whatever the desired input
// holds for the others; no chain is deleted; the next full apply finds the
// stale chains it left.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import type { FamilyTables, RenderedChain, TableState } from "../../model/tables.js";
import { tableState } from "../../model/tables.js";

const chain = (name: string, ...targets: string[]): RenderedChain => ({
  name,
  rules: targets.map((t, i) => ({
    text: `-m comment --comment "cali:${name.slice(-6)}${i}" -j ${t}`,
    hash: `${name.slice(-6)}${i}`,
  })),
});
const tables = (o: Partial<Record<keyof FamilyTables, TableState>>): FamilyTables => ({
  raw: tableState(),
  mangle: tableState(),
  nat: tableState(),
  filter: tableState(),
  ...o,
});
const natHook = { POSTROUTING: { insert: [], append: chain("x", "cali-POSTROUTING").rules } };

/** Ours already there: a filter chain with its FORWARD hook, and a nat chain no longer desired. */
const BEFORE = [
  "*filter",
  ":cali-FORWARD - [0:0]",
  '-A cali-FORWARD -m comment --comment "cali:kept" -j ACCEPT',
  '-A FORWARD -m comment --comment "cali:hook" -j cali-FORWARD',
  "COMMIT",
  "*nat",
  ":cali-stale - [0:0]",
  '-A cali-stale -m comment --comment "cali:old" -j RETURN',
  "COMMIT",
];

async function kernel(): Promise<FakeIptablesBackend> {
  const fake = new FakeIptablesBackend(4, "legacy");
  await fake.restore(`${BEFORE.join("\n")}\n`);
  fake.restores.splice(0);
  return fake;
}

describe("TableSyncer: a write of some tables", () => {
  test("writes only the nat table, deletes nothing; the next full apply removes the stale chain", async () => {
    const k = await kernel();
    const s = new TableSyncer(k);
    // Desired filter is empty here: a full apply would remove cali-FORWARD and the FORWARD hook.
    const natOnly = tables({ nat: tableState([chain("cali-POSTROUTING", "RETURN")], natHook) });
    let started = 0;
    await s.apply(natOnly, undefined, undefined, { tables: ["nat"], restore: { onStarted: () => started++ } });
    assert.equal(started, 1);
    assert.equal(k.restores.length, 1);
    assert.deepEqual(
      [...k.restores[0].matchAll(/^\*(\w+)$/gm)].map((m) => m[1]),
      ["nat"],
    );
    assert.ok(k.tables.get("filter")!.has("cali-FORWARD"), "filter untouched");
    assert.equal(k.tables.get("filter")!.get("FORWARD")!.rules.length, 1);
    assert.ok(k.tables.get("nat")!.has("cali-stale"), "no chain deleted");
    assert.ok(k.tables.get("nat")!.has("cali-POSTROUTING"));
    // The full apply (same nat object: nothing to write there) still finds the stale nat chain.
    const full = tables({
      nat: natOnly.nat,
      filter: tableState([chain("cali-FORWARD", "ACCEPT")], {
        FORWARD: { insert: chain("y", "cali-FORWARD").rules, append: [] },
      }),
    });
    await s.apply(full);
    assert.ok(!k.tables.get("nat")!.has("cali-stale"), "stale chain removed by the full apply");
    assert.ok(k.tables.get("nat")!.has("cali-POSTROUTING"));
    assert.ok(k.tables.get("filter")!.has("cali-FORWARD"));
    // And nothing left to do.
    const before = k.restores.length;
    await s.apply(full);
    assert.equal(k.restores.length, before);
  });

  test("nothing to write: started at once, no program run", async () => {
    const k = await kernel();
    const s = new TableSyncer(k);
    let started = 0;
    await s.apply(tables({}), undefined, undefined, { tables: ["nat"], restore: { onStarted: () => started++ } });
    assert.equal(started, 1);
    assert.equal(k.restores.length, 0, "the stale chain is not deleted, so nothing is written");
  });

  test("retries: 0 fails at once", async () => {
    const k = await kernel();
    k.failNext = 1;
    const s = new TableSyncer(k, { sleep: async () => assert.fail("no retry") });
    const natOnly = tables({ nat: tableState([chain("cali-POSTROUTING", "RETURN")], natHook) });
    await assert.rejects(s.apply(natOnly, undefined, undefined, { tables: ["nat"], retries: 0 }));
    assert.equal(s.failures, 1);
  });
});
