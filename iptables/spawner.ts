// A spawn helper: a small process, started with the agent, that starts the
// per-change programs (iptables-restore, ipset) for it. Forking the agent
// itself (~350 MB) blocked its event loop for ~9 ms per program under load
// (a CPU profile of the daemon: `spawn` was a quarter of its per-change CPU,
// three programs per change), and copy-on-write faults follow each fork. The
// helper's fork is cheap, and the agent only sends messages. stdio is relayed
// over the IPC channel with write acknowledgements, so run()'s holds and
// back-pressure work as with a forked program. The helper kills its programs
// and exits when the agent goes; a helper that died is started again by the
// next program (forked from the agent until the new one is up).

import { type ChildProcess, fork } from "node:child_process";
import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { forkSpawn, type Spawn, type Started } from "./exec.js";
import type { FromHelper, ToHelper } from "./spawner-protocol.js";

const CHILD = fileURLToPath(new URL("./spawner-child.js", import.meta.url));

/**
 * Inputs (characters) above this go to a program forked from the agent: a cold start's tens of
 * megabytes relayed through the helper raised its RSS from ~40 to ~70 MB, and one fork per
 * family at a cold start costs nothing next to the restore.
 */
export const HELPER_MAX_INPUT = 1 << 20;

/** `spawn` for an input of these parts: the helper's for a small one, else undefined (forked from ours). */
export function spawnFor(spawn: Spawn | undefined, parts: readonly string[]): Spawn | undefined {
  if (!spawn) return undefined;
  let n = 0;
  for (const p of parts) {
    n += p.length;
    if (n > HELPER_MAX_INPUT) return undefined;
  }
  return spawn;
}

export class SpawnHelper {
  private proc: ChildProcess | undefined;
  private readonly programs = new Map<number, HelperProgram>();
  private next = 1;
  /** The helper said it is listening. */
  private ready = false;
  private readyWaiters: (() => void)[] = [];

  /** Starts the helper now (at start-up, while the agent is small: one cheap fork); resolves once it is up. */
  open(): Promise<void> {
    this.proc ??= this.start();
    return this.ready ? Promise.resolve() : new Promise((r) => this.readyWaiters.push(r));
  }

  /** Starts a program through the helper; until it is up (a start-up right after ours), forked from ours. */
  readonly spawn: Spawn = (cmd, args, env) => {
    const proc = this.proc ?? this.start();
    if (!this.ready) return forkSpawn(cmd, args, env);
    const id = this.next++;
    const p = new HelperProgram((m) => this.send(proc, m), id);
    this.programs.set(id, p);
    if (this.programs.size === 1) {
      // A program is running: keep the agent alive for its answer, or the helper's exit.
      proc.ref();
      proc.channel?.ref();
    }
    this.send(proc, { op: "spawn", id, cmd, args, ...(env ? { env } : {}) });
    return p;
  };

  close(): void {
    if (this.proc?.connected) this.proc.disconnect();
    this.proc = undefined;
    this.ready = false;
  }

  private start(): ChildProcess {
    // Its own small heap; none of the agent's node flags.
    const proc = fork(CHILD, [], {
      execArgv: ["--max-old-space-size=32", "--max-semi-space-size=1"],
      serialization: "advanced",
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    this.proc = proc;
    proc.on("message", (m: FromHelper) => {
      if (m.op === "ready") {
        this.ready = this.proc === proc;
        for (const r of this.readyWaiters.splice(0)) r();
        this.idle(proc); // an idle helper never keeps the agent running
        return;
      }
      const p = this.programs.get(m.id);
      if (!p) return;
      if (m.op === "close") this.done(proc, m.id);
      p.deliver(m);
    });
    proc.on("error", () => {}); // a failed send: the exit below answers
    proc.on("exit", (code, signal) => {
      if (this.proc === proc) {
        this.proc = undefined;
        this.ready = false;
      }
      for (const [id, p] of this.programs) {
        this.done(proc, id);
        p.deliver({ op: "error", id, message: `spawn helper exited (${signal ?? code})` });
        p.deliver({ op: "close", id, code: null, signal: "SIGKILL" });
      }
    });
    return proc;
  }

  private done(proc: ChildProcess, id: number): void {
    this.programs.delete(id);
    this.idle(proc);
  }

  private idle(proc: ChildProcess): void {
    if (this.programs.size > 0) return;
    proc.unref();
    proc.channel?.unref();
  }

  private send(proc: ChildProcess, m: ToHelper): void {
    if (proc.connected) proc.send(m, () => {}); // not sent: the helper is gone, and its exit answers
  }
}

/** A program started by the helper, as run() sees one. */
class HelperProgram extends EventEmitter implements Started {
  readonly stdout = new EventEmitter();
  readonly stderr = new EventEmitter();
  readonly stdin: Writable;
  /** The callback of the write the helper has not acknowledged yet. */
  private written: ((e?: Error) => void) | undefined;

  constructor(
    private readonly send: (m: ToHelper) => void,
    private readonly id: number,
  ) {
    super();
    this.stdin = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.written = cb;
        send({ op: "write", id, data: chunk });
      },
      final: (cb) => {
        send({ op: "end", id });
        cb();
      },
    });
  }

  kill(signal: NodeJS.Signals): boolean {
    this.send({ op: "kill", id: this.id, signal });
    return true;
  }

  deliver(m: FromHelper): void {
    switch (m.op) {
      case "out": {
        const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
        (m.fd === 1 ? this.stdout : this.stderr).emit("data", data);
        return;
      }
      case "written": {
        const cb = this.written;
        this.written = undefined;
        cb?.();
        return;
      }
      case "error":
        this.emit("error", Object.assign(new Error(m.message), m.code ? { code: m.code } : {}));
        return;
      case "close":
        this.stdin.destroy(); // a writer still at it stops (run()'s writeParts sees the close)
        this.emit("close", m.code);
    }
  }
}
