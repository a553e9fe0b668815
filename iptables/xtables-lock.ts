// The machine's xtables lock, taken by the agent itself so that its legacy
// restores can run at once. Legacy iptables serialises every writer with
// flock(LOCK_EX) on /run/xtables.lock ($XTABLES_LOCKFILE), held by a restore
// from each table's `*table` to its COMMIT. Our IPv4 and IPv6 tables are
// separate kernel objects (ip_tables and ip6_tables replace under their own
// mutex), so the only thing serialising them is that lock. Here the agent
// holds the machine lock over its restores, and each restore takes a private
// lock file of its family instead (lockFileFor): other well-behaved tools
// (iptables -w, kube-proxy, docker) still wait for us, and our two families'
// replaces overlap.
//
// Node has no flock(2): a small long-lived shell holds the lock file open on
// a descriptor and locks or unlocks it with flock(1) on request (one line in,
// one line out). The lock belongs to that descriptor, so it goes when the
// shell exits, and the shell exits when our end of its stdin closes, however
// the agent ends (no stale lock).

import { type ChildProcess, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";

/** legacy iptables' XT_LOCK_NAME. */
export const DEFAULT_XTABLES_LOCK = "/run/xtables.lock";

/** The machine's lock file, as iptables picks it: $XTABLES_LOCKFILE unless unset or empty. */
export function machineLockFile(env: NodeJS.ProcessEnv = process.env): string {
  const f = env.XTABLES_LOCKFILE;
  return f === undefined || f === "" ? DEFAULT_XTABLES_LOCK : f;
}

/**
 * The private lock file a family's restores take while we hold `machine`: named after it,
 * so agents sharing a machine lock share these too (only the machine lock's holder uses them).
 */
export function lockFileFor(machine: string, family: 4 | 6): string {
  return `${machine}.felix-ipv${family}`;
}

/** One lock file: locked and unlocked in turn, never twice in a row. */
export interface LockFile {
  readonly path: string;
  /** Waits for the exclusive lock, up to the timeout; rejects if it is not had by then. */
  lock(): Promise<void>;
  unlock(): Promise<void>;
  /** Ends it (a lock still held goes with it). */
  close(): void;
}

const SCRIPT = [
  "umask 077",
  'exec 9>>"$1" || exit 1',
  "while IFS= read -r op; do",
  '  case "$op" in',
  '    lock) if flock -x -w "$2" 9; then echo locked; else echo busy; fi ;;',
  "    unlock) flock -u 9; echo unlocked ;;",
  "    *) exit 2 ;;",
  "  esac",
  "done",
].join("\n");

/** The real lock file: flock(1) run by a long-lived shell that holds the file open. */
export class FlockLockFile implements LockFile {
  private child: ChildProcess | undefined;
  private replies: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  private buffered = "";

  constructor(
    readonly path: string,
    /** flock's -w: how long a lock() waits for another holder (iptables --wait; Felix: 10 s). */
    private readonly timeoutSeconds: number,
  ) {}

  /** Starts the shell now (at start-up, while the agent's heap is small: a fork copies its page tables). */
  open(): void {
    this.child ??= this.start();
  }

  async lock(): Promise<void> {
    const r = await this.ask("lock");
    if (r !== "locked") throw lockBusy(this.path, this.timeoutSeconds);
  }

  async unlock(): Promise<void> {
    if (!this.child) return; // the shell is gone, and the lock with it
    await this.ask("unlock");
  }

  close(): void {
    this.child?.stdin?.end();
    this.child = undefined;
  }

  private ask(op: string): Promise<string> {
    const c = this.child ?? this.start();
    const p = new Promise<string>((resolve, reject) => this.replies.push({ resolve, reject }));
    // A reply is awaited: keep the agent alive for it (or for the shell's exit).
    c.ref();
    (c.stdout as Readable & { ref(): void }).ref();
    (c.stdin as Writable).write(`${op}\n`);
    return p;
  }

  private start(): ChildProcess {
    const c = spawn("sh", ["-c", SCRIPT, "felix-xtables-lock", this.path, String(this.timeoutSeconds)], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let said = ""; // the shell's complaint (a lock file it cannot open), for the error
    c.stderr?.on("data", (d: Buffer) => {
      said = (said + d.toString()).slice(-500);
    });
    (c.stderr as Readable & { unref(): void }).unref();
    this.child = c;
    c.unref(); // an idle helper never keeps the agent running
    const out = c.stdout as Readable & { unref(): void };
    out.unref();
    out.setEncoding("utf8");
    out.on("data", (d: string) => {
      this.buffered += d;
      for (let at = this.buffered.indexOf("\n"); at !== -1; at = this.buffered.indexOf("\n")) {
        const line = this.buffered.slice(0, at);
        this.buffered = this.buffered.slice(at + 1);
        this.replies.shift()?.resolve(line);
      }
      if (this.replies.length > 0) return;
      out.unref();
      c.unref();
    });
    (c.stdin as Writable).on("error", () => {}); // a dead shell: its exit handler answers
    const gone = (why: string) => {
      if (this.child === c) this.child = undefined;
      const waiting = this.replies;
      this.replies = [];
      for (const r of waiting) r.reject(new XtablesLockError(`xtables lock helper ${why}`));
    };
    c.on("error", (e) => gone(`failed: ${e.message}`));
    c.on("close", (code, signal) => gone(`exited (${signal ?? code})${said ? `: ${said.trim()}` : ""}`));
    return c;
  }
}

/** The machine lock was not had (held by another program past the timeout, or the helper failed). */
export class XtablesLockError extends Error {}

function lockBusy(path: string, seconds: number): XtablesLockError {
  return new XtablesLockError(
    `Another app is currently holding the xtables lock (${path}); stopped waiting after ${seconds}s`,
  );
}

/**
 * The machine lock shared by our restores: the first hold locks, the last
 * release unlocks; a hold that comes while the lock is being released waits
 * for that and locks again. A failed lock fails every hold that waited on it.
 */
export class XtablesLock {
  private users = 0;
  private locked: Promise<void> | undefined;
  private unlocked: Promise<void> = Promise.resolve();

  constructor(readonly file: LockFile) {}

  /** Resolves, once the lock is held, with its release (idempotent). */
  async hold(): Promise<() => Promise<void>> {
    this.users++;
    if (!this.locked) {
      const after = this.unlocked;
      this.locked = after.then(() => this.file.lock());
    }
    const locked = this.locked;
    try {
      await locked;
    } catch (e) {
      this.drop(locked, false);
      throw e;
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      await this.drop(locked, true);
    };
  }

  close(): void {
    this.file.close();
  }

  /** One user fewer; the last one of a lock that was had unlocks it. */
  private drop(locked: Promise<void>, had: boolean): Promise<void> {
    this.users--;
    if (this.users > 0 || this.locked !== locked) return this.unlocked;
    this.locked = undefined;
    if (had) this.unlocked = this.file.unlock().catch(() => {}); // a dead helper took the lock with it
    return this.unlocked;
  }
}
