// Every golden case rendered with the nft rule renderer and loaded by the
// nftables table syncer into the real nft: the cold load lists exactly as
// renderNftTable prints it, reads back as desired, and a second apply writes
// nothing; then the same syncer moves from each case to the next (a warm
// diff between two unrelated desired states) and reads back as desired.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { ExecNftBackend } from "../../nftables/backend.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { renderedParts, renderNftTable } from "../../nftables/table-text.js";
import { caseNames } from "../golden-cases.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";
import { desiredTables, goldenNftState, INEXPRESSIBLE, readOurTables, sortedElements } from "./golden-state.js";

const skip = netnsSkipReason() ?? (spawnSync("sh", ["-c", "command -v nft"]).status !== 0 && "needs nft");

test("every golden case: the syncer's cold load lists as rendered and reads back as desired; warm moves between cases too", {
  ...skipIf(skip),
  timeout: 600_000,
}, async () => {
  const ns = createNetns("nftgsync");
  try {
    const names = caseNames().filter((n) => !INEXPRESSIBLE.has(n));
    const warm = {
      ip: new NftTableSyncer(new ExecNftBackend("ip", ["ip", "netns", "exec", ns])),
      ip6: new NftTableSyncer(new ExecNftBackend("ip6", ["ip", "netns", "exec", ns])),
    };
    const cold = createNetns("nftgcold");
    try {
      for (const name of names) {
        const s = await goldenNftState(name);
        for (const family of ["ip", "ip6"] as const) {
          const tables = family === "ip" ? s.iptables.ipv4 : s.iptables.ipv6;
          const b = new ExecNftBackend(family, ["ip", "netns", "exec", cold]);
          spawnSync("ip", ["netns", "exec", cold, "nft", "flush", "ruleset"]);
          await new NftTableSyncer(b).apply(tables, s.ipsets, s.nftObjects);
          const want = desiredTables(family, { tables, sets: s.ipsets, objects: s.nftObjects });
          assert.deepEqual(await readOurTables(b), want, `${name} ${family}: cold read-back`);
          // Each table lists as rendered (renderNftTable joins them with a blank line).
          const parts = renderedParts(family, tables, s.ipsets, s.nftObjects);
          const listed = parts.map(
            (p) =>
              spawnSync("ip", ["netns", "exec", cold, "nft", "-s", "list", "table", family, p.table], {
                encoding: "utf8",
              }).stdout,
          );
          assert.equal(
            sortedElements(listed.join("\n")),
            sortedElements(renderNftTable(family, tables, s.ipsets, s.nftObjects)),
            `${name} ${family}: nft -s list`,
          );
          assert.equal(
            (await new NftTableSyncer(b).apply(tables, s.ipsets, s.nftObjects)).linesWritten,
            0,
            `${name} ${family}: second apply`,
          );
          // Warm: from the previous case to this one.
          await warm[family].apply(tables, s.ipsets, s.nftObjects);
          assert.deepEqual(await readOurTables(warm[family].backend), want, `${name} ${family}: warm read-back`);
        }
      }
    } finally {
      deleteNetns(cold);
    }
  } finally {
    deleteNetns(ns);
  }
});
