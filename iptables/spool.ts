// A program's input spooled to a file it reads as its stdin, instead of a
// pipe we feed: it reads at its own pace while our main thread is busy. A piped
// input moves only when our event loop turns (64 KB of pipe at a time), so a
// restore of tens of megabytes started before seconds of synchronous graph
// work would wait for all of it (src/nat-first.ts starts the nat table's
// restore that way, then ingests the rest of the first batch).
//
// The file is private: created in a fresh 0700 directory under the temporary
// directory (mkdtemp: a name no one can take first), opened for reading, and
// unlinked with its directory before anything is written to it, so nothing
// is left behind however the agent ends.

import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmdirSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collect, type ExecResult, type HoldAt, holdsSettled } from "./exec.js";

/** Bytes encoded and written at a time (a 32 MB input is never one string or buffer). */
const WRITE_BYTES = 1 << 20;

/** Writes the parts to an unlinked private file; returns a descriptor that reads it from the start. */
export function spoolToFile(parts: Iterable<string>, dir = tmpdir()): number {
  const tmp = mkdtempSync(join(dir, "felix-input-"));
  const path = join(tmp, "input");
  let w: number | undefined;
  let r: number | undefined;
  try {
    w = openSync(path, "wx", 0o600);
    r = openSync(path, "r");
  } catch (e) {
    if (w !== undefined) closeSync(w);
    throw e;
  } finally {
    // Gone from the file system before a byte is written.
    try {
      unlinkSync(path);
    } catch {}
    try {
      rmdirSync(tmp);
    } catch {}
  }
  try {
    // Each part encoded into one buffer, written when full: no joined string and no new buffer per
    // write (at `large`, 480k parts and 30 MB: half the CPU of join + Buffer.from, and no 30 MB of
    // array buffers for the collector to account).
    const buf = Buffer.allocUnsafe(WRITE_BYTES);
    let used = 0;
    const write = (b: Buffer, end: number) => {
      for (let off = 0; off < end; ) off += writeSync(w!, b, off, end - off);
    };
    for (const p of parts) {
      // UTF-8 takes at most 3 bytes per UTF-16 unit: a part that might not fit goes after a flush, or alone.
      if (p.length * 3 > WRITE_BYTES - used) {
        write(buf, used);
        used = 0;
        if (p.length * 3 > WRITE_BYTES) {
          const whole = Buffer.from(p);
          write(whole, whole.length);
          continue;
        }
      }
      used += buf.write(p, used);
    }
    write(buf, used);
  } catch (e) {
    closeSync(r);
    throw e;
  } finally {
    closeSync(w);
  }
  return r;
}

/**
 * Runs `cmd` on the spooled parts, once every hold has settled (it reads its whole input at
 * once: a hold cannot stop it part way). `onStarted`: called once it runs with its whole input,
 * so nothing of ours is needed until it ends. Never throws for a non-zero exit. Undefined when
 * the input could not be spooled (no writable temporary directory): the caller pipes it instead.
 */
export async function runSpooled(
  cmd: string,
  args: readonly string[],
  parts: Iterable<string>,
  hold: HoldAt | undefined,
  o: { env?: NodeJS.ProcessEnv; onStarted?: () => void; dir?: string } = {},
): Promise<ExecResult | undefined> {
  await holdsSettled(hold);
  let fd: number;
  try {
    fd = spoolToFile(parts, o.dir);
  } catch {
    return undefined;
  }
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(cmd, args, { stdio: [fd, "pipe", "pipe"], ...(o.env ? { env: o.env } : {}) });
  } finally {
    closeSync(fd); // the program has its own copy
  }
  const result = collect(cmd, { stdout: child.stdout!, stderr: child.stderr!, on: child.on.bind(child) });
  o.onStarted?.();
  return result;
}
