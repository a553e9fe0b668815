// nftables/cold-load.ts: a whole-table load streams the very text felix-dump renders
// (tables joined by a blank line, an empty one left out; when recreating, each replaced
// first), its views are what a read-back must equal, nothing starts nft when there is
// nothing to load; and on the real nft a rule the renderer refuses, met after a whole
// table has been streamed, reaches the caller and leaves the kernel without any table of
// ours but the others, each loaded in its own transaction (that nft is killed rather than
// given an end of input: test/iptables/exec.test.ts).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import type { FamilyTables } from "../../model/tables.js";
import { ExecNftBackend, type NftError } from "../../nftables/backend.js";
import { loadWhole, renderWhole, type WholeTable } from "../../nftables/cold-load.js";
import { splitDesired } from "../../nftables/parts.js";
import { desiredView, type NftDesired } from "../../nftables/plan.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { renderNftTable } from "../../nftables/table-text.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";
import { sets, smallDesired, tables } from "./fixtures.js";

const parts = (d: NftDesired): WholeTable[] => splitDesired(d).map((p) => ({ table: p.table, want: p.desired }));

/** loadWhole into a pipe that keeps the text; `calls` counts the transactions started. */
async function streamed(family: "ip" | "ip6", d: NftDesired, recreate = false) {
  let text = "";
  let calls = 0;
  let sentAt = -1;
  const r = await loadWhole(family, parts(d), recreate, async (input, onSent) => {
    calls++;
    for (const p of input) text += p;
    sentAt = text.length;
    onSent?.();
  });
  return { r, text, calls, sentAt };
}

test("the streamed text is renderNftTable's, for both families; views as a read-back must be", async () => {
  const d = smallDesired();
  for (const family of ["ip", "ip6"] as const) {
    const { r, text, calls, sentAt } = await streamed(family, d);
    assert.equal(calls, 1);
    assert.equal(text, renderNftTable(family, d.tables, d.sets));
    assert.equal(sentAt, text.length);
    assert.equal(r.bytesWritten, Buffer.byteLength(text));
    parts(d).forEach((p, i) => {
      const want = desiredView(family, p.want, p.table);
      assert.deepEqual(r.plans[i].after ?? { chains: new Map(), sets: new Map() }, want, p.table);
    });
  }
});

test("renderWhole (stage 1) renders loadWhole's text, bytes, line count and views", async () => {
  const d = smallDesired();
  for (const family of ["ip", "ip6"] as const) {
    const { r, text } = await streamed(family, d);
    const w = renderWhole(family, parts(d));
    assert.equal(w.script, text);
    assert.equal(w.bytes, r.bytesWritten);
    const plans = w.views();
    assert.equal(plans[0].linesWritten, r.plans[0].linesWritten, family);
    assert.ok(plans[0].linesWritten > 0);
    assert.deepEqual(
      plans.map((p) => p.after),
      r.plans.map((p) => p.after),
    );
  }
});

test("recreating: every table of ours is replaced, an empty one deleted without being written", async () => {
  const d = smallDesired();
  const { text } = await streamed("ip", d, true);
  const split = parts(d);
  assert.ok(split.length > 2, "the nat shards are parts too");
  for (const { table } of split)
    assert.match(text, new RegExp(`^add table ip ${table}\ndelete table ip ${table}\n`, "m"));
  assert.equal(text.match(/^table ip /gm)?.length, 2, "calico and calico-nat: the empty shards are not written");
});

test("nothing to load: no transaction is started", async () => {
  const { r, calls } = await streamed("ip", { tables: tables({}), sets: sets() });
  assert.equal(calls, 0);
  assert.equal(r.bytesWritten, 0);
  assert.ok(r.plans.every((p) => p.after === null));
});

const skip = netnsSkipReason() ?? (spawnSync("sh", ["-c", "command -v nft"]).status !== 0 ? "needs nft" : undefined);

describe("a cold load on the real nft", { ...skipIf(skip), timeout: 60_000 }, () => {
  let ns = "";
  before(() => {
    ns = createNetns("fxcold");
  });
  after(() => deleteNetns(ns));

  test("a rule the renderer refuses in a nat table: that table's nft never reads an end of input; calico stays", async () => {
    const d = smallDesired();
    // calico-nat's one chain is the base chain holding this rule: the renderer refuses it at
    // that table's first block, in its own transaction (one per table); `calico` is loaded in its own.
    const injected = { text: "counter\nadd table ip injected", hash: "x1" };
    const evil = tables({ filter: {}, nat: { hooks: { POSTROUTING: { insert: [injected], append: [] } } } });
    const t: FamilyTables = { ...d.tables, nat: evil.nat };
    const syncer = new NftTableSyncer(new ExecNftBackend("ip", ["ip", "netns", "exec", ns]));
    await assert.rejects(syncer.apply(t, d.sets));
    const listed = spawnSync("ip", ["netns", "exec", ns, "nft", "list", "tables"], { encoding: "utf8" });
    assert.equal(listed.status, 0, listed.stderr);
    assert.equal(listed.stdout, "table ip calico\n", "calico-nat's nft never read an end of input: not committed");
  });

  test("transactSpooled: nft reads the text from a file on its own; a refusal names the line", async () => {
    const b = new ExecNftBackend("ip", ["ip", "netns", "exec", ns]);
    let started = false;
    await b.transactSpooled("table ip spooled {\n\tchain c {\n\t\tcounter\n\t}\n}\n", () => {
      started = true;
    });
    assert.ok(started);
    assert.ok(await b.list("spooled"));
    const bad = "table ip spooled2 {\n\tchain c {\n\t\tjump nowhere\n\t}\n}\n";
    await assert.rejects(
      b.transactSpooled(bad, () => {}),
      (e: NftError) => e.line === "\t\tjump nowhere",
    );
    assert.equal(await b.list("spooled2"), undefined);
    await b.transact("delete table ip spooled\n");
  });
});
