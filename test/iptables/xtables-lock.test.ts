// XtablesLock's sharing of one machine lock among our restores, over an
// in-memory lock file that records what reached it: holds that overlap lock
// once; a hold after the last release locks again (after the unlock); a failed
// lock fails its waiting holds and unlocks nothing; releases are idempotent.
// And the real lock file (flock(1) in a shell) against another process's flock.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  DEFAULT_XTABLES_LOCK,
  FlockLockFile,
  type LockFile,
  lockFileFor,
  machineLockFile,
  XtablesLock,
  XtablesLockError,
} from "../../iptables/xtables-lock.js";
import { skipIf } from "../helpers/skip.js";

/** A lock file whose lock and unlock complete when the test says so (or at once). */
class MemoryLockFile implements LockFile {
  readonly path = "/run/test.lock";
  readonly calls: string[] = [];
  held = false;
  /** The next lock() fails with this. */
  failNext: Error | undefined;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  /** Makes the next lock()/unlock() wait until `proceed()`. */
  pause(): void {
    this.gate = new Promise((r) => {
      this.open = r;
    });
  }
  proceed(): void {
    this.open?.();
  }

  async lock(): Promise<void> {
    this.calls.push("lock");
    await this.wait();
    assert.equal(this.held, false, "locked twice");
    const e = this.failNext;
    this.failNext = undefined;
    if (e) throw e;
    this.held = true;
  }
  async unlock(): Promise<void> {
    this.calls.push("unlock");
    await this.wait();
    assert.equal(this.held, true, "unlocked while not held");
    this.held = false;
  }
  close(): void {
    this.calls.push("close");
  }
  private async wait(): Promise<void> {
    const g = this.gate;
    this.gate = undefined;
    await g;
  }
}

test("overlapping holds lock once and unlock after the last release", async () => {
  const f = new MemoryLockFile();
  const lock = new XtablesLock(f);
  const [a, b] = await Promise.all([lock.hold(), lock.hold()]);
  assert.deepEqual(f.calls, ["lock"]);
  await a();
  await a(); // a second release of the same hold counts once
  assert.equal(f.held, true, "still held for the other restore");
  const c = await lock.hold(); // joins the lock still held
  await b();
  assert.equal(f.held, true);
  await c();
  assert.equal(f.held, false);
  assert.deepEqual(f.calls, ["lock", "unlock"]);
});

test("a hold that comes while the lock is being released locks again after the unlock", async () => {
  const f = new MemoryLockFile();
  const lock = new XtablesLock(f);
  const a = await lock.hold();
  f.pause();
  const releasing = a();
  const next = lock.hold();
  f.proceed();
  await releasing;
  const b = await next;
  assert.equal(f.held, true);
  assert.deepEqual(f.calls, ["lock", "unlock", "lock"]);
  await b();
  assert.equal(f.held, false);
});

test("a failed lock fails every hold waiting on it, unlocks nothing, and the next hold tries again", async () => {
  const f = new MemoryLockFile();
  const lock = new XtablesLock(f);
  f.failNext = new XtablesLockError("busy");
  const results = await Promise.allSettled([lock.hold(), lock.hold()]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["rejected", "rejected"],
  );
  assert.deepEqual(f.calls, ["lock"]);
  const again = await lock.hold();
  assert.equal(f.held, true);
  await again();
  assert.deepEqual(f.calls, ["lock", "lock", "unlock"]);
});

test("the machine lock file is iptables' choice: XTABLES_LOCKFILE unless unset or empty; private files are named after it", () => {
  assert.equal(machineLockFile({}), DEFAULT_XTABLES_LOCK);
  assert.equal(machineLockFile({ XTABLES_LOCKFILE: "" }), DEFAULT_XTABLES_LOCK);
  assert.equal(machineLockFile({ XTABLES_LOCKFILE: "/tmp/x.lock" }), "/tmp/x.lock");
  assert.notEqual(lockFileFor("/run/xtables.lock", 4), lockFileFor("/run/xtables.lock", 6));
  assert.notEqual(lockFileFor("/run/xtables.lock", 4), "/run/xtables.lock");
});

const noFlock = spawnSync("sh", ["-c", "command -v flock"]).status === 0 ? undefined : "needs flock (util-linux)";
/** Whether another process could take the lock on `path` right now (flock -n). */
const free = (path: string) => spawnSync("flock", ["-n", path, "true"]).status === 0;

test(
  "FlockLockFile locks the file against other processes until unlocked, and closing it frees it",
  skipIf(noFlock),
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "fxlockfile-"));
    const path = join(dir, "xtables.lock");
    const f = new FlockLockFile(path, 5);
    try {
      await f.lock();
      assert.equal(free(path), false, "held");
      await f.unlock();
      assert.equal(free(path), true, "released");
      await f.lock();
      f.close();
      await until(() => free(path), "the helper's exit frees it");
    } finally {
      f.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "a lock file that cannot be opened fails lock() with the shell's reason, never hangs",
  skipIf(noFlock),
  async () => {
    const f = new FlockLockFile("/nonexistent-felix-dir/xtables.lock", 5);
    await assert.rejects(
      f.lock(),
      (e: Error) => e instanceof XtablesLockError && /nonexistent-felix-dir/.test(e.message),
    );
    f.close();
  },
);

async function until(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}
