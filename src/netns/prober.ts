// Tracked background processes, and the pod-server.py process of an endpoint (servers plus prober).

import { type ChildProcess, spawn as spawnChild } from "node:child_process";
import { pythonPath, serverScript } from "./shell.js";
import type { ProbeResult, Protocol, ServerSpec } from "./types.js";

/** A tracked background process; output is kept (last 256 KiB) so its pipes never block. */
export interface Background {
  readonly child: ChildProcess;
  readonly netns: string;
  output(): string;
  /** Resolves with the exit code (or signal name) when it has exited. */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const OUTPUT_KEEP = 256 * 1024;

export function background(ns: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Background {
  const child = spawnChild("ip", ["netns", "exec", ns, cmd, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: env ?? process.env,
  });
  let out = "";
  const keep = (d: string) => {
    out += d;
    if (out.length > OUTPUT_KEEP * 2) out = out.slice(-OUTPUT_KEEP);
  };
  child.stdout!.setEncoding("utf8").on("data", keep);
  child.stderr!.setEncoding("utf8").on("data", keep);
  child.stdin!.on("error", () => {});
  const exited = new Promise<number | string>((r) => {
    child.on("close", (code, signal) => r(code ?? signal ?? -1));
    child.on("error", (e) => {
      keep(`spawn error: ${e.message}\n`);
      r(-1);
    });
  });
  return {
    child,
    netns: ns,
    output: () => out,
    exited,
    async kill(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const t = setTimeout(() => child.kill("SIGKILL"), 1000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** The pod-server.py process of one pod (or node): servers plus prober. */
export class Prober {
  private readonly pending = new Map<number, (line: string) => void>();
  private nextId = 1;
  private buf = "";
  private stderr = "";
  readonly proc: Background;
  readonly ready: Promise<void>;

  constructor(ns: string, key: string, servers: ServerSpec, extraArgs: readonly string[] = []) {
    const args = [serverScript()!, "--name", key, ...extraArgs];
    if (servers.tcp?.length) args.push("--tcp", servers.tcp.join(","));
    if (servers.udp?.length) args.push("--udp", servers.udp.join(","));
    if (servers.sctp?.length) args.push("--sctp", servers.sctp.join(","));
    this.proc = background(ns, pythonPath() ?? "python3", ["-u", ...args]);
    const child = this.proc.child;
    let onReady: () => void = () => {};
    let onFail: (e: Error) => void = () => {};
    this.ready = new Promise<void>((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    child.stderr!.on("data", (d: string) => {
      this.stderr = (this.stderr + d).slice(-4096);
    });
    child.stdout!.on("data", (d: string) => {
      this.buf += d;
      let i = this.buf.indexOf("\n");
      while (i >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (line === "ready") onReady();
        else if (line.startsWith("result ")) {
          const id = Number(line.split(" ", 3)[1]);
          const cb = this.pending.get(id);
          this.pending.delete(id);
          cb?.(line);
        }
        i = this.buf.indexOf("\n");
      }
    });
    const timer = setTimeout(
      () => onFail(new Error(`pod-server for ${key} not ready after 10 s: ${this.stderr}`)),
      10_000,
    );
    this.ready.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
    void this.proc.exited.then((code) => {
      onFail(new Error(`pod-server for ${key} in ${ns} exited (${code}): ${this.stderr.trim()}`));
      for (const [id, cb] of this.pending) {
        this.pending.delete(id);
        cb(`result ${id} fail server-exited`);
      }
    });
  }

  async probe(host: string, port: number, protocol: Protocol, timeoutMs: number): Promise<ProbeResult> {
    await this.ready;
    const id = this.nextId++;
    const t0 = performance.now();
    const line = await new Promise<string>((res) => {
      const guard = setTimeout(() => {
        this.pending.delete(id);
        res(`result ${id} fail prober-did-not-answer`);
      }, timeoutMs + 5000);
      this.pending.set(id, (l) => {
        clearTimeout(guard);
        res(l);
      });
      this.proc.child.stdin!.write(`probe ${id} ${protocol} ${host} ${port} ${Math.max(1, Math.round(timeoutMs))}\n`);
    });
    const ms = Math.round(performance.now() - t0);
    const m = /^result \d+ (ok|fail) ?(.*)$/.exec(line);
    if (m?.[1] === "ok") return { ok: true, reply: m[2], ms };
    return { ok: false, error: m?.[2] || line, ms };
  }
}
