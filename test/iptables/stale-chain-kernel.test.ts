// Stale chains on the real tools: TableSyncer deletes a chain that left the
// desired state in the same iptables-restore transaction that removes the
// jumps to it (one table rewrite in legacy, not two), and when another
// program's rule still jumps to it, leaves it flushed and in place.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { type IptablesBackend, RestoreError } from "../../iptables/backend.js";
import { renderChain } from "../../iptables/render.js";
import { parseSave } from "../../iptables/save-parser.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { Actions, NO_MATCH, rule } from "../../model/rule.js";
import { type FamilyTables, tableState } from "../../model/tables.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";

const missing = ["iptables-legacy-restore", "iptables-nft-restore"].find(
  (t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0,
);
const skip = netnsSkipReason() ?? (missing && `needs ${missing}`);

/** The real tools in a namespace; every restore input is kept. */
function nsBackend(ns: string, mode: "legacy" | "nft"): IptablesBackend & { restores: string[] } {
  const exec = (cmd: string, input?: string) =>
    spawnSync("ip", ["netns", "exec", ns, cmd, ...(input !== undefined ? ["--noflush"] : [])], {
      input,
      encoding: "utf8",
    });
  const restores: string[] = [];
  return {
    family: 4,
    mode,
    restores,
    async save() {
      return exec(`iptables-${mode}-save`).stdout;
    },
    async restore(input: string) {
      restores.push(input);
      const r = exec(`iptables-${mode}-restore`, input);
      if (r.status !== 0) throw new RestoreError(r.stderr);
    },
  };
}

function tables(withPolicy: boolean): FamilyTables {
  const pol = renderChain({ name: "cali-pi-test", rules: [rule(NO_MATCH, Actions.accept)] });
  const ep = renderChain({
    name: "cali-tw-test",
    rules: [...(withPolicy ? [rule(NO_MATCH, Actions.jump("cali-pi-test"))] : []), rule(NO_MATCH, Actions.drop)],
  });
  const filter = tableState(withPolicy ? [pol, ep] : [ep]);
  return { raw: tableState([]), mangle: tableState([]), nat: tableState([]), filter };
}

for (const mode of ["legacy", "nft"] as const) {
  test(`a stale chain goes in the transaction that drops its jumps, on the real ${mode} tools`, {
    ...skipIf(skip),
    timeout: 60_000,
  }, async () => {
    const ns = createNetns("fxstale");
    try {
      const k = nsBackend(ns, mode);
      const s = new TableSyncer(k, { sleep: async () => {} });
      await s.apply(tables(true));
      await s.apply(tables(false));
      assert.equal(k.restores.length, 2, k.restores.join("\n"));
      assert.match(k.restores[1], /^-X cali-pi-test$/m);
      let filter = parseSave(await k.save()).get("filter")!;
      assert.ok(!filter.chains.has("cali-pi-test"));
      assert.deepEqual(
        filter.chains.get("cali-tw-test")!.rules.map((r) => r.text.replace(/^-m comment --comment "[^"]*" /, "")),
        ["-j DROP"],
      );

      // Another program jumps to it: flushed and kept, no failed restore.
      await s.apply(tables(true));
      await k.restore("*filter\n:OTHER - [0:0]\n-A OTHER -j cali-pi-test\nCOMMIT\n");
      s.invalidate();
      await s.apply(tables(false));
      assert.equal(s.failures, 0);
      filter = parseSave(await k.save()).get("filter")!;
      assert.deepEqual(filter.chains.get("cali-pi-test")?.rules, []);
      assert.equal(filter.chains.get("OTHER")?.rules.length, 1);
    } finally {
      deleteNetns(ns);
    }
  });
}
