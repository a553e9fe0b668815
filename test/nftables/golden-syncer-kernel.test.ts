// Every golden case rendered with the nft rule renderer and loaded by the
// nftables table syncer into the real nft: the cold load lists exactly as
// renderNftTable prints it, reads back as desired, and a second apply writes
// nothing; then the same syncer moves from each case to the next (a warm
// diff between two unrelated desired states) and reads back as desired.
// Every read — the syncers' and the test's — lists a family's ruleset once
// (ruleset-listing.ts), not each of our tables (nine per family) in a
// process of its own.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { renderedParts, renderNftTable } from "../../nftables/table-text.js";
import { caseNames } from "../golden-cases.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, inNetns, netnsSkipReason } from "../routes/netns.js";
import { desiredTables, goldenNftState, INEXPRESSIBLE, sortedElements } from "./golden-state.js";
import { ListedNftBackend, nftOut, ourTables, textTables } from "./ruleset-listing.js";

const skip = netnsSkipReason() ?? (spawnSync("sh", ["-c", "command -v nft"]).status !== 0 && "needs nft");

test("every golden case: the syncer's cold load lists as rendered and reads back as desired; warm moves between cases too", {
  ...skipIf(skip),
  timeout: 600_000,
}, async () => {
  const ns = createNetns("nftgsync");
  try {
    const names = caseNames().filter((n) => !INEXPRESSIBLE.has(n));
    const warmBackends = { ip: new ListedNftBackend("ip", inNetns(ns)), ip6: new ListedNftBackend("ip6", inNetns(ns)) };
    const warm = { ip: new NftTableSyncer(warmBackends.ip), ip6: new NftTableSyncer(warmBackends.ip6) };
    const cold = createNetns("nftgcold");
    const coldNs = inNetns(cold);
    try {
      for (const name of names) {
        const s = await goldenNftState(name);
        // Both families start from nothing (the namespace holds only what the case before loaded).
        nftOut(coldNs, ["flush", "ruleset"]);
        for (const family of ["ip", "ip6"] as const) {
          const tables = family === "ip" ? s.iptables.ipv4 : s.iptables.ipv6;
          const b = new ListedNftBackend(family, coldNs);
          await new NftTableSyncer(b).apply(tables, s.ipsets, s.nftObjects);
          const want = desiredTables(family, { tables, sets: s.ipsets, objects: s.nftObjects });
          assert.deepEqual(ourTables(b.refresh(), family), want, `${name} ${family}: cold read-back`);
          // Each table lists as rendered (renderNftTable joins them with a blank line).
          const listing = textTables(nftOut(coldNs, ["-s", "list", "ruleset", family]));
          const parts = renderedParts(family, tables, s.ipsets, s.nftObjects);
          assert.equal(
            sortedElements(parts.map((p) => listing.get(`${family} ${p.table}`) ?? "").join("\n")),
            sortedElements(renderNftTable(family, tables, s.ipsets, s.nftObjects)),
            `${name} ${family}: nft -s list`,
          );
          // A syncer that starts here reads every table back (the listing just read) and finds nothing to write.
          assert.equal(
            (await new NftTableSyncer(b).apply(tables, s.ipsets, s.nftObjects)).linesWritten,
            0,
            `${name} ${family}: second apply`,
          );
          // Warm: from the previous case to this one, in one transaction the kernel takes (no retry).
          await warm[family].apply(tables, s.ipsets, s.nftObjects);
          assert.equal(warm[family].failures, 0, `${name} ${family}: warm move refused by the kernel`);
          assert.deepEqual(
            ourTables(warmBackends[family].refresh(), family),
            want,
            `${name} ${family}: warm read-back`,
          );
        }
      }
    } finally {
      deleteNetns(cold);
    }
  } finally {
    deleteNetns(ns);
  }
});
