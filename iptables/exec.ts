// Runs a program with optional stdin and collects its output. Never throws
// for a non-zero exit: callers decide what a failure means.

import { spawn } from "node:child_process";
import type { Writable } from "node:stream";

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class CommandNotFoundError extends Error {}

/**
 * stdin as one string, or as parts whose concatenation is the text: parts are
 * written in chunks as the program reads them, so a restore input of tens of
 * megabytes is never built as one string (nor copied whole into the pipe). A
 * lazy iterable (a generator) renders each part only when the pipe wants more,
 * so the program parses what came while the rest is rendered; one that throws
 * kills the program before it has read its whole input, as a rejected hold does.
 */
export type StdinText = string | Iterable<string>;

/**
 * Parts (by index) before which writing waits for `until`: the program reads
 * everything up to there meanwhile. If `until` rejects, the program is killed
 * before it reads further and run() rejects with that error.
 */
export interface HoldAt {
  readonly indexes: ReadonlySet<number>;
  readonly until: Promise<unknown>;
  /** Another hold, of other parts on another promise (a table's start on its sets existing, its COMMIT on their members). */
  readonly next?: HoldAt;
}

/** Settles once every promise of a hold chain has resolved (for backends that take the input whole). */
export function holdsSettled(hold: HoldAt | undefined): Promise<unknown> {
  const all: Promise<unknown>[] = [];
  for (let h = hold; h; h = h.next) all.push(h.until);
  return Promise.all(all);
}

/** What run() needs of a started program: node's ChildProcess, or one started by the spawn helper (spawner.ts). */
export interface Started {
  readonly stdin: Writable;
  readonly stdout: { on(event: "data", f: (b: Buffer) => void): unknown };
  readonly stderr: { on(event: "data", f: (b: Buffer) => void): unknown };
  on(event: "error", f: (e: NodeJS.ErrnoException) => void): unknown;
  on(event: "close", f: (code: number | null) => void): unknown;
  kill(signal: NodeJS.Signals): unknown;
}

/** Starts a program with piped stdio. */
export type Spawn = (cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv) => Started;

/** A program forked from this process. */
export const forkSpawn: Spawn = (cmd, args, env) =>
  spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], ...(env ? { env } : {}) });

export interface RunOptions {
  /** The program's environment (default: ours). */
  readonly env?: NodeJS.ProcessEnv;
  /** How it is started (default: forked from this process). */
  readonly spawn?: Spawn;
  /** Called once the program's pipe has taken the whole input (not when it was cut short). */
  readonly onInputSent?: () => void;
}

export function run(
  cmd: string,
  args: readonly string[],
  input?: StdinText,
  hold?: HoldAt,
  o: RunOptions = {},
): Promise<ExecResult> {
  let child: Started;
  try {
    child = (o.spawn ?? forkSpawn)(cmd, args, o.env);
  } catch (e) {
    return Promise.reject(e);
  }
  let held: { error: unknown } | undefined;
  const result = collect(cmd, child, () => held);
  child.stdin.on("error", () => {}); // the program may exit before reading all input
  if (o.onInputSent) child.stdin.once("finish", o.onInputSent);
  if (typeof input === "string" || input === undefined) child.stdin.end(input ?? "");
  else
    void writeParts(child.stdin, input, hold).catch((error: unknown) => {
      held = { error };
      child.kill("SIGKILL");
    });
  return result;
}

/**
 * A started program's exit code and output once it closes (a non-zero exit is no rejection).
 * Rejects when it cannot start (CommandNotFoundError when there is no such program), or with
 * the error `cutShort` names at its close (its input was stopped part way).
 */
export function collect(
  cmd: string,
  child: Pick<Started, "stdout" | "stderr" | "on">,
  cutShort: () => { error: unknown } | undefined = () => undefined,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(e.code === "ENOENT" ? new CommandNotFoundError(`${cmd} not found`) : e),
    );
    child.on("close", (code) => {
      const held = cutShort();
      if (held) reject(held.error);
      else resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

/**
 * Characters per write: half a pipe buffer, and under V8's large-object size,
 * so a chunk dies young (256 KiB chunks sat in large-object space until the
 * next full collection: ~30 MB more peak RSS at a large cold start).
 */
const CHUNK_CHARS = 32 * 1024;

/** Writes the parts in chunks, each after the pipe has taken the last (or the program has gone). */
async function writeParts(stdin: Writable, parts: Iterable<string>, hold?: HoldAt): Promise<void> {
  let gone = false;
  const stop = () => {
    gone = true;
  };
  stdin.once("error", stop);
  stdin.once("close", stop);
  let chunk: string[] = [];
  let size = 0;
  const flush = async () => {
    const more = stdin.write(chunk.join(""));
    chunk = [];
    size = 0;
    if (!more) await drained(stdin);
  };
  let i = -1;
  for (const p of parts) {
    i++;
    for (let h = hold; h; h = h.next) {
      if (!h.indexes.has(i)) continue;
      if (gone) return;
      if (size > 0) await flush();
      await h.until; // a rejection: the caller kills the program before it reads on
    }
    chunk.push(p);
    size += p.length;
    if (size < CHUNK_CHARS) continue;
    if (gone) return;
    await flush();
  }
  if (!gone) stdin.end(chunk.join(""));
}

function drained(stdin: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stdin.off("drain", done);
      stdin.off("close", done);
      stdin.off("error", done);
      resolve();
    };
    stdin.on("drain", done);
    stdin.on("close", done);
    stdin.on("error", done);
  });
}

/** Line `n` (1-based) of text given as parts, without its newline; undefined past the end. */
export function lineOfParts(parts: readonly string[], n: number): string | undefined {
  let line = 1;
  let current = "";
  for (const p of parts) {
    let from = 0;
    for (let at = p.indexOf("\n"); at !== -1; at = p.indexOf("\n", from)) {
      if (line === n) return current + p.slice(from, at);
      line++;
      from = at + 1;
    }
    if (line === n) current += p.slice(from);
  }
  return line === n && current !== "" ? current : undefined;
}
