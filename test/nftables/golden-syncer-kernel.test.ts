// Every golden case rendered with the nft rule renderer and loaded by the
// nftables table syncer into the real nft: the cold load lists exactly as
// renderNftTable prints it, reads back as desired, and a second apply writes
// nothing; then the same syncer moves from each case to the next (a warm
// diff between two unrelated desired states) and reads back as desired.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { ExecNftBackend, type NftBackend } from "../../nftables/backend.js";
import { desiredView } from "../../nftables/plan.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { renderNftTable } from "../../nftables/table-text.js";
import { parseNftJson } from "../../nftables/view.js";
import { caseNames } from "../golden-cases.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";
import { goldenNftState, INEXPRESSIBLE, plainView, sortedElements } from "./golden-state.js";

const skip = netnsSkipReason() ?? (spawnSync("sh", ["-c", "command -v nft"]).status !== 0 && "needs nft");

async function read(b: NftBackend) {
  const j = await b.list();
  return plainView(j === undefined ? undefined : parseNftJson(j));
}

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
          const want = plainView(desiredView(family, { tables, sets: s.ipsets, objects: s.nftObjects }));
          assert.deepEqual(await read(b), want, `${name} ${family}: cold read-back`);
          const text = renderNftTable(family, tables, s.ipsets, s.nftObjects);
          const listed = spawnSync("ip", ["netns", "exec", cold, "nft", "-s", "list", "table", family, "calico"], {
            encoding: "utf8",
          }).stdout;
          if (Object.keys(want.chains).length + Object.keys(want.sets).length > 0)
            assert.equal(sortedElements(listed), sortedElements(text), `${name} ${family}: nft -s list`);
          assert.equal(
            (await new NftTableSyncer(b).apply(tables, s.ipsets, s.nftObjects)).linesWritten,
            0,
            `${name} ${family}: second apply`,
          );
          // Warm: from the previous case to this one.
          await warm[family].apply(tables, s.ipsets, s.nftObjects);
          assert.deepEqual(await read(warm[family].backend), want, `${name} ${family}: warm read-back`);
        }
      }
    } finally {
      deleteNetns(cold);
    }
  } finally {
    deleteNetns(ns);
  }
});
