// Kernel access for iptables: iptables-save / iptables-restore of one family
// and one backend (legacy or nft). The fake in fake-backend.ts implements the
// same interface in memory.

import {
  CommandNotFoundError,
  type ExecResult,
  type HoldAt,
  holdsSettled,
  lineOfParts,
  type RunOptions,
  run,
  type Spawn,
} from "./exec.js";
import { spawnFor } from "./spawner.js";
import { runSpooled } from "./spool.js";
import { lockFileFor, type XtablesLock, XtablesLockError } from "./xtables-lock.js";

export type IptablesMode = "legacy" | "nft";

export interface IptablesBackend {
  readonly family: 4 | 6;
  readonly mode: IptablesMode;
  /** iptables-save of every table. */
  save(): Promise<string>;
  /** iptables-restore --noflush of the input, atomically per table. */
  restore(input: string): Promise<void>;
  /**
   * The same, for input given as parts whose concatenation is the text,
   * streamed to the program: a cold start's tens of megabytes are never one
   * string. Backends without it are given the joined text. With `hold`, the
   * parts at its indexes (a table's COMMIT) wait for `hold.until`; if that
   * rejects, nothing past them is committed and restoreParts rejects with it.
   */
  restoreParts?(parts: readonly string[], hold?: HoldAt, o?: RestoreOptions): Promise<void>;
}

/** How a restore's program gets its input (restoreParts). */
export interface RestoreOptions {
  /**
   * Spooled to a file the program reads on its own (spool.ts), once the holds have settled:
   * for a large write started before a long synchronous task of ours, which a pipe would wait for.
   */
  readonly spool?: boolean;
  /** Called once the program has its whole input (nothing of ours is needed until it ends). */
  readonly onStarted?: () => void;
}

/** `b.restoreParts`, or for a backend without it, the input whole once the holds have settled. */
export async function restorePartsOf(
  b: IptablesBackend,
  parts: readonly string[],
  hold?: HoldAt,
  o?: RestoreOptions,
): Promise<void> {
  if (b.restoreParts) return b.restoreParts(parts, hold, o);
  await holdsSettled(hold);
  await b.restore(parts.join(""));
  o?.onStarted?.();
}

/** A rejected restore, with the offending input line when the tool names it. */
export class RestoreError extends Error {
  constructor(
    message: string,
    readonly lineNumber?: number,
    readonly line?: string,
    readonly lockContention = false,
  ) {
    super(message);
  }
}

/** Seconds to wait for the xtables lock held by another program (Felix: 10 s). */
export const LOCK_TIMEOUT_SECONDS = 10;
/** Microseconds between lock probes (Felix: 50 ms). */
export const LOCK_PROBE_MICROS = 50_000;

export function binary(family: 4 | 6, mode: IptablesMode, what: "save" | "restore"): string {
  return `${family === 4 ? "iptables" : "ip6tables"}-${mode}-${what}`;
}

export class ExecIptablesBackend implements IptablesBackend {
  constructor(
    readonly family: 4 | 6,
    readonly mode: IptablesMode,
    /**
     * Legacy only: the machine's xtables lock, held by us over each restore, which
     * then takes its family's private lock file instead: the families' restores
     * overlap and other programs still wait (xtables-lock.ts). Without it, each
     * restore takes the machine lock itself, one after the other.
     */
    private readonly lock?: XtablesLock,
    /** How restores are started (spawner.ts; default: forked from this process). */
    private readonly spawn?: Spawn,
  ) {}

  async save(): Promise<string> {
    const r = await run(binary(this.family, this.mode, "save"), []);
    if (r.code !== 0) throw new Error(`${binary(this.family, this.mode, "save")} failed: ${r.stderr.trim()}`);
    return r.stdout;
  }

  restore(input: string): Promise<void> {
    return this.restoreParts([input]);
  }

  async restoreParts(parts: readonly string[], hold?: HoldAt, o: RestoreOptions = {}): Promise<void> {
    const cmd = binary(this.family, this.mode, "restore");
    const args = ["--noflush", "--wait", String(LOCK_TIMEOUT_SECONDS), "--wait-interval", String(LOCK_PROBE_MICROS)];
    const r =
      this.lock && this.mode === "legacy"
        ? await underLock(this.lock, this.family, cmd, args, parts, hold, spawnFor(this.spawn, parts), o)
        : await start(cmd, args, parts, hold, { spawn: spawnFor(this.spawn, parts) }, o);
    if (r.code === 0) return;
    const stderr = r.stderr.trim();
    const m = /(?:Error occurred at line|line):? (\d+)/.exec(stderr);
    const lineNumber = m ? Number(m[1]) : undefined;
    const line = lineNumber ? lineOfParts(parts, lineNumber) : undefined;
    const lock = /xtables lock|holding the lock/i.test(stderr);
    throw new RestoreError(`${cmd} failed: ${stderr}`, lineNumber, line, lock);
  }
}

/**
 * The restore under the machine lock: the program starts at once and reads
 * its input (reaches its first `*table`) only once the lock is had; the lock
 * is released however the program ends. Not had: a lock-contention failure,
 * retried by the syncer as iptables' own would be.
 */
async function underLock(
  lock: XtablesLock,
  family: 4 | 6,
  cmd: string,
  args: readonly string[],
  parts: readonly string[],
  hold: HoldAt | undefined,
  spawn: Spawn | undefined,
  o: RestoreOptions,
): Promise<ExecResult> {
  let release: (() => Promise<void>) | undefined;
  const held = lock.hold().then((r) => {
    release = r;
  });
  held.catch(() => {}); // its rejection reaches run() through the hold
  const env = lockEnv(lock.file.path, family);
  try {
    return await start(
      cmd,
      args,
      parts,
      { indexes: FIRST, until: held, ...(hold ? { next: hold } : {}) },
      { env, spawn },
      o,
    );
  } catch (e) {
    if (e instanceof XtablesLockError) throw new RestoreError(`${cmd}: ${e.message}`, undefined, undefined, true);
    throw e;
  } finally {
    // Not awaited: the unlock (a flock(1) run) is off the change's path; the next hold waits for it.
    // Stopped before the lock came (another hold failed): released when it comes.
    if (release) void release();
    else
      void held.then(
        () => release?.(),
        () => {},
      );
  }
}

const FIRST: ReadonlySet<number> = new Set([0]);

/** run(), or with `o.spool` runSpooled() (piped after all when the input cannot be spooled). */
async function start(
  cmd: string,
  args: readonly string[],
  parts: readonly string[],
  hold: HoldAt | undefined,
  ro: RunOptions,
  o: RestoreOptions,
): Promise<ExecResult> {
  const spooled = o.spool
    ? await runSpooled(cmd, args, parts, hold, { env: ro.env, onStarted: o.onStarted })
    : undefined;
  return spooled ?? run(cmd, args, parts, hold, { ...ro, ...(o.onStarted ? { onInputSent: o.onStarted } : {}) });
}

/** Our environment with the family's private lock file, built once (copying process.env took ~2 ms per restore under load). */
const lockEnvs = new Map<string, NodeJS.ProcessEnv>();
function lockEnv(machine: string, family: 4 | 6): NodeJS.ProcessEnv {
  const file = lockFileFor(machine, family);
  let env = lockEnvs.get(file);
  if (!env) {
    env = { ...process.env, XTABLES_LOCKFILE: file };
    lockEnvs.set(file, env);
  }
  return env;
}

/** Whether the family's binaries for a mode exist on this machine. */
export async function backendAvailable(family: 4 | 6, mode: IptablesMode): Promise<boolean> {
  try {
    const r = await run(binary(family, mode, "save"), ["-t", "filter"]);
    return r.code === 0;
  } catch (e) {
    if (e instanceof CommandNotFoundError) return false;
    throw e;
  }
}
