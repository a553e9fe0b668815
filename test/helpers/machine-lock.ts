// A lock over the whole machine, for test files that may run beside any other
// but not beside one another (two demo runs: a demo refuses to start beside
// another demo's namespaces, and each checks that no demo leaves anything).
// flock(1) on a file under /run holds it for as long as its child lives: the
// child waits on our pipe, so the kernel releases the lock when we release it
// or when this process dies, however it dies (no stale lock to clean up).

import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const LOCK_DIR = "/run/felix-ts-e2e";

/** Waits for the lock `name`; resolves with its release. */
export async function machineLock(name: string): Promise<() => Promise<void>> {
  mkdirSync(LOCK_DIR, { recursive: true });
  const holder = spawn("flock", [join(LOCK_DIR, `${name}.lock`), "sh", "-c", "echo held; exec cat >/dev/null"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((r) => holder.once("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    holder.stdout.once("data", () => resolve());
    holder.once("error", reject);
    holder.once("exit", (code) => reject(new Error(`flock ${name} exited (${code}) before taking the lock`)));
  });
  return async () => {
    holder.stdin.end(); // cat sees EOF and exits: the lock goes with it
    await exited;
  };
}
