// Runs a node script inside a network namespace (`ip netns exec`: netlink
// sockets and /proc/sys/net bind to the namespace of the process that opens
// them, and node cannot setns(2) itself) and reads its result: the last
// `RESULT {json}` line on stdout. Used by kernel tests and benchmarks.

import { spawn } from "node:child_process";

export interface NodeChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  /** Empty when stderr was inherited. */
  readonly stderr: string;
  readonly ms: number;
  readonly timedOut: boolean;
  /** Parsed from the last `RESULT {json}` line on stdout. */
  readonly result?: unknown;
}

export interface NodeChildOptions {
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  /** Pass the child's stderr through (progress lines) instead of collecting it. */
  readonly inheritStderr?: boolean;
  /** Node options for the child (`--cpu-prof`, …): it does not inherit the parent's exec args. */
  readonly nodeArgs?: readonly string[];
}

export function runNodeInNetns(ns: string, script: string, o: NodeChildOptions): Promise<NodeChildRun> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      "ip",
      ["netns", "exec", ns, process.execPath, ...(o.nodeArgs ?? []), script, ...(o.args ?? [])],
      {
        env: o.env ?? process.env,
        stdio: ["ignore", "pipe", o.inheritStderr ? "inherit" : "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout?.on("data", (d) => {
      stdout += d;
    });
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, o.timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = stdout
        .split("\n")
        .reverse()
        .find((l) => l.startsWith("RESULT "));
      const result: unknown = line ? JSON.parse(line.slice("RESULT ".length)) : undefined;
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0, timedOut, result });
    });
  });
}
