// The agent's held xtables lock (iptables/xtables-lock.ts) with the real
// legacy tools, in throwaway namespaces, each run with a lock file of its own
// as the machine lock (XTABLES_LOCKFILE, which iptables honours): while we
// hold it, other iptables runs wait (or give up after their --wait) and our
// two families' restores still go through, at once; a rejected or killed
// restore, and an agent killed while holding it, leave it free; a lock held
// by another program past our timeout is a lock-contention failure.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runNodeInNetns } from "../../src/netns/node-child.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";

const CHILD = fileURLToPath(new URL("./xtables-lock-child.js", import.meta.url));
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const skip =
  netnsSkipReason() ??
  (["iptables-legacy", "ip6tables-legacy-restore", "flock"].every(has) ? undefined : "needs legacy iptables and flock");

/** Runs `fn` with a fresh namespace and lock file (the namespace's "machine" lock). */
async function withNs<T>(fn: (ns: string, env: NodeJS.ProcessEnv) => Promise<T>): Promise<T> {
  const ns = createNetns("fxlock");
  const dir = mkdtempSync(join(tmpdir(), "fxlock-"));
  try {
    return await fn(ns, { ...process.env, XTABLES_LOCKFILE: join(dir, "xtables.lock") });
  } finally {
    deleteNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function scenario(name: string): Promise<Record<string, unknown>> {
  return withNs(async (ns, env) => {
    const r = await runNodeInNetns(ns, CHILD, {
      env: { ...env, FELIX_NETNS_CHILD: "xtables-lock", FXT_SCENARIO: name },
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    return r.result as Record<string, unknown>;
  });
}

const opts = { ...skipIf(skip), timeout: 90_000 };

test(
  "while the agent holds the xtables lock, iptables -w waits and our restores of both families go through",
  opts,
  async () => {
    const r = await scenario("others-wait");
    assert.equal(r.refusedCode, 4, "iptables -w 1 gave up while we held the lock");
    assert.match(String(r.refusedStderr), /xtables lock/);
    assert.equal(r.ours, true, "our IPv4 and IPv6 restores committed while we held the lock");
    assert.deepEqual(r.whileHeld, { waiterExited: false, waiterChain: false }, "iptables -w had not run yet");
    assert.equal(r.waiterCode, 0, "iptables -w ran once we released");
    assert.equal(r.waiterChain, true);
  },
);

test("the IPv6 restore commits while the IPv4 one is inside its table: the families overlap", opts, async () => {
  const r = await scenario("overlap");
  assert.equal(r.v6In, true);
  assert.equal(r.v4Yet, false, "IPv4 had not committed yet");
  assert.equal(r.refusedWhileOurs, 4, "other programs were locked out meanwhile");
  assert.equal(r.v4In, true);
});

test("a rejected restore and a restore killed before its COMMIT release the lock", opts, async () => {
  const r = await scenario("failures-release");
  assert.equal(r.rejected, "RestoreError");
  assert.equal(r.afterRejected, 0, "iptables -w 1 ran after the rejected restore");
  assert.equal(r.killed, "sets failed");
  assert.equal(r.killedChain, false, "nothing of the killed restore was committed");
  assert.equal(r.afterKilled, 0, "iptables -w 1 ran after the killed restore");
});

test(
  "another program holding the lock past our timeout: a lock-contention failure, nothing written",
  opts,
  async () => {
    const r = await scenario("busy");
    const error = r.error as { contention: boolean; message: string } | undefined;
    assert.ok(error, "the restore failed");
    assert.equal(error.contention, true, error.message);
    assert.equal(r.busyChain, false);
  },
);

test("an agent killed while holding the lock leaves it free", opts, async () => {
  await withNs(async (ns, env) => {
    const agent = spawn("ip", ["netns", "exec", ns, process.execPath, CHILD], {
      env: { ...env, FELIX_NETNS_CHILD: "xtables-lock", FXT_SCENARIO: "hold-forever" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      agent.stdout.on("data", (d: Buffer) => d.toString().includes("HELD") && resolve());
      agent.on("close", (code) => reject(new Error(`the holder exited (${code}) before holding`)));
    });
    const refused = spawnSync("ip", ["netns", "exec", ns, "iptables-legacy", "-w", "1", "-N", "cali-held"], { env });
    assert.equal(refused.status, 4, "held by the agent");
    agent.kill("SIGKILL");
    await new Promise((r) => agent.on("close", r));
    // The helper shell sees its stdin close and exits, its descriptor (and lock) with it.
    const after = spawnSync("ip", ["netns", "exec", ns, "iptables-legacy", "-w", "30", "-N", "cali-after"], { env });
    assert.equal(after.status, 0, after.stderr?.toString());
  });
});
