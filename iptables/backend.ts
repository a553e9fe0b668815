// Kernel access for iptables: iptables-save / iptables-restore of one family
// and one backend (legacy or nft). The fake in fake-backend.ts implements the
// same interface in memory.

import { CommandNotFoundError, type HoldAt, lineOfParts, run } from "./exec.js";

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
  restoreParts?(parts: readonly string[], hold?: HoldAt): Promise<void>;
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
  ) {}

  async save(): Promise<string> {
    const r = await run(binary(this.family, this.mode, "save"), []);
    if (r.code !== 0) throw new Error(`${binary(this.family, this.mode, "save")} failed: ${r.stderr.trim()}`);
    return r.stdout;
  }

  restore(input: string): Promise<void> {
    return this.restoreParts([input]);
  }

  async restoreParts(parts: readonly string[], hold?: HoldAt): Promise<void> {
    const cmd = binary(this.family, this.mode, "restore");
    const args = ["--noflush", "--wait", String(LOCK_TIMEOUT_SECONDS), "--wait-interval", String(LOCK_PROBE_MICROS)];
    const r = await run(cmd, args, parts, hold);
    if (r.code === 0) return;
    const stderr = r.stderr.trim();
    const m = /(?:Error occurred at line|line):? (\d+)/.exec(stderr);
    const lineNumber = m ? Number(m[1]) : undefined;
    const line = lineNumber ? lineOfParts(parts, lineNumber) : undefined;
    const lock = /xtables lock|holding the lock/i.test(stderr);
    throw new RestoreError(`${cmd} failed: ${stderr}`, lineNumber, line, lock);
  }
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
