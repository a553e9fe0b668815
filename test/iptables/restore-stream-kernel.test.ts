// Restore input streamed in parts (iptables/exec.ts) on the real tools, legacy
// and nft: a 30,000-rule chain written in many chunks is loaded whole, and a
// rejected input names its offending line although that line was split over
// parts (and nothing of it is committed).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runNodeInNetns } from "../../src/netns/node-child.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";

const CHILD = fileURLToPath(new URL("./restore-stream-child.js", import.meta.url));

for (const mode of ["legacy", "nft"] as const) {
  const missing = spawnSync("sh", ["-c", `command -v iptables-${mode}-restore`]).status !== 0;
  const skip = netnsSkipReason() ?? (missing ? `needs iptables-${mode}-restore` : undefined);
  test(`restoreParts streams a large input into the real ${mode} tools`, {
    ...skipIf(skip),
    timeout: 120_000,
  }, async () => {
    const ns = createNetns("fxstream");
    try {
      const r = await runNodeInNetns(ns, CHILD, {
        env: { ...process.env, FELIX_NETNS_CHILD: "restore-stream", FXT_MODE: mode },
        timeoutMs: 100_000,
      });
      assert.equal(r.code, 0, r.stderr);
      const out = r.result as { rules: number; error?: { line?: number; text?: string }; badChain: boolean };
      assert.equal(out.rules, 30_000);
      assert.ok(out.error, "the bad input was rejected");
      // legacy names the rule's line; nft finds the missing chain only at the table's COMMIT.
      assert.equal(out.error.text, mode === "legacy" ? "-A cali-bad -j cali-nosuch" : "COMMIT");
      assert.equal(out.badChain, false, "nothing of the rejected table was committed");
    } finally {
      deleteNetns(ns);
    }
  });
}
