// One felix process of the end-to-end bench (bench/agent.ts), in a node's network
// namespace: `felix --once` with its peak RSS and CPU (python's getrusage of the
// child), or the daemon, whose JSON log lines tell when each snapshot was
// programmed and how long its apply took, and whose /proc files give its memory
// and CPU. FXBENCH_FELIX=<felix.js> runs another build; FXBENCH_FELIX_NODE_ARGS
// (space-separated) adds node flags; FXBENCH_FELIX_LOG=<file> keeps the log lines.

import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { shebangNodeFlags } from "../src/cli/node-flags.js";
import { progress } from "./progress.js";
import { LOCAL_NODE } from "./scale-spec.js";

/** FXBENCH_FELIX=<felix.js> times another build (e.g. an older commit's) on the same cluster and kernel. */
const FELIX = process.env.FXBENCH_FELIX ?? fileURLToPath(new URL("../src/cli/felix.js", import.meta.url));
const PROGRAMMED = new Set(["dataplane programmed", "dataplane already in sync: no changes"]);

/** How felix is run: its dataplane settings, and optionally another build, node flags, more environment. */
export interface FelixRunOptions {
  readonly backend: "legacy" | "nft";
  /** The policy dataplane (FELIX_NFTABLESMODE Enabled for nftables, else Disabled). */
  readonly dataplane?: "iptables" | "nftables";
  readonly proxyMode: string;
  /** Another build's felix.js (default FXBENCH_FELIX, else this one). */
  readonly felix?: string;
  /** Node flags before felix.js (bench/agent-memory.ts compares V8 flags). */
  readonly nodeArgs?: readonly string[];
  /** More environment for felix. */
  readonly env?: NodeJS.ProcessEnv;
}

/** A daemon's memory from /proc/<pid>/status, MB. */
export interface AgentMemory {
  readonly rssMB: number;
  readonly hwmMB: number;
  readonly anonMB: number;
  readonly fileMB: number;
  /** CPU time the process has used (user + system), s. */
  readonly cpuS: number;
  readonly pid: number;
}

/** One `felix --once` run: spawn → exit, the peak RSS, the CPU time (user + system), the exit code. */
export interface OnceRun {
  readonly ms: number;
  readonly peakRssMB: number;
  readonly cpuS: number;
  readonly exit: number | null;
}

function felixEnv(o: FelixRunOptions): NodeJS.ProcessEnv {
  return {
    ...process.env,
    FELIX_PROXYMODE: o.proxyMode,
    FELIX_IPTABLESBACKEND: o.backend,
    FELIX_NFTABLESMODE: o.dataplane === "nftables" ? "Enabled" : "Disabled",
    FELIX_IPTABLESREFRESHINTERVAL: "0",
    FELIX_HEALTHENABLED: "false",
    FELIX_LOGSEVERITYSCREEN: "info",
    ...o.env,
  };
}

/** `felix --once`, wrapped to read its ru_maxrss. */
export async function once(ns: string, dir: string, o: FelixRunOptions): Promise<OnceRun> {
  const wrapper =
    "import resource,subprocess,sys\nr=subprocess.run(sys.argv[1:])\n" +
    "u=resource.getrusage(resource.RUSAGE_CHILDREN)\n" +
    "sys.stderr.write('MAXRSS %d CPU %.2f\\n' % (u.ru_maxrss, u.ru_utime + u.ru_stime))\nsys.exit(r.returncode)";
  const args = ["netns", "exec", ns, "python3", "-c", wrapper, process.execPath, ...felixArgv(o)];
  args.push("--datastore", "file", "--resources", dir, "--node-name", LOCAL_NODE, "--once", "--log-format", "json");
  const t0 = performance.now();
  const c = spawn("ip", args, { env: felixEnv(o), stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  c.stderr.on("data", (d) => (err += d));
  const exit = await new Promise<number | null>((r) => c.on("close", r));
  const ms = performance.now() - t0;
  const [, kb, cpuS] = /MAXRSS (\d+) CPU ([\d.]+)/.exec(err) ?? [];
  if (exit !== 0) progress(`felix --once exited ${exit}: ${err.slice(-500)}`);
  return { ms, peakRssMB: Number(kb ?? Number.NaN) / 1024, cpuS: Number(cpuS ?? Number.NaN), exit };
}

/** node's argv: the flags (those of felix.js's shebang first, as users run it), then felix.js. */
function felixArgv(o: FelixRunOptions): string[] {
  const extra = process.env.FXBENCH_FELIX_NODE_ARGS?.split(" ").filter((a) => a !== "") ?? [];
  const felix = o.felix ?? FELIX;
  return [...shebangNodeFlags(felix), ...extra, ...(o.nodeArgs ?? []), felix];
}

/** A felix daemon and its log lines. */
export class Agent {
  private readonly child: ChildProcess;
  private waiters: { since: number; resolve: (t: number) => void }[] = [];
  /**
   * Log times of programmed lines not yet claimed by a waiter. A Kubernetes write
   * only returns once the fake API server has answered (over its stdio), and felix
   * can program the change before that answer reaches us: the line must not be lost.
   */
  private seen: number[] = [];
  /** The apply time (ms) logged with each programmed line, by its log time. */
  readonly applyMs = new Map<number, number>();
  readonly t0 = Date.now();
  readonly exited: Promise<number | null>;

  constructor(ns: string, args: string[], o: FelixRunOptions) {
    this.child = spawn(
      "ip",
      ["netns", "exec", ns, process.execPath, ...felixArgv(o), ...args, "--log-format", "json"],
      {
        env: felixEnv(o),
        stdio: ["ignore", "ignore", "pipe"], // the log goes to stderr
      },
    );
    this.exited = new Promise((r) => this.child.on("close", r));
    const tee = process.env.FXBENCH_FELIX_LOG;
    createInterface({ input: this.child.stderr! }).on("line", (line) => {
      if (tee) appendFileSync(tee, `${line}\n`);
      let m: { msg?: string; time?: number; level?: number; ms?: number };
      try {
        m = JSON.parse(line);
      } catch {
        return;
      }
      if ((m.level ?? 0) >= 50) progress(`felix: ${line.slice(0, 300)}`);
      if (!PROGRAMMED.has(m.msg ?? "") || m.time === undefined) return;
      const t = m.time;
      if (m.ms !== undefined) this.applyMs.set(t, m.ms);
      const due = this.waiters.filter((w) => t >= w.since);
      this.waiters = this.waiters.filter((w) => t < w.since);
      if (due.length === 0) this.seen.push(t);
      for (const w of due) w.resolve(t);
    });
  }

  /** Resolves with the log time of the first programmed line at or after `since` (Date.now() ms). */
  programmed(since: number, timeoutMs = 120_000): Promise<number> {
    // Changes are sequential: lines older than `since` belong to earlier ones.
    this.seen = this.seen.filter((t) => t >= since);
    const early = this.seen.shift();
    if (early !== undefined) return Promise.resolve(early);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("felix did not program within the timeout")), timeoutMs);
      this.waiters.push({
        since,
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
      });
    });
  }

  /** VmRSS and VmHWM of the node process (`ip netns exec` execs it in place); RSS split anonymous / file. */
  rss(): AgentMemory {
    const s = readFileSync(`/proc/${this.child.pid}/status`, "utf8");
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? Number.NaN) / 1024;
    // utime and stime: fields 14 and 15 of /proc/<pid>/stat, after the parenthesised command, in clock ticks (100/s).
    const stat = readFileSync(`/proc/${this.child.pid}/stat`, "utf8").split(") ")[1].split(" ");
    const cpuS = (Number(stat[11]) + Number(stat[12])) / 100;
    return {
      rssMB: kb("VmRSS"),
      hwmMB: kb("VmHWM"),
      anonMB: kb("RssAnon"),
      fileMB: kb("RssFile"),
      cpuS,
      pid: this.child.pid!,
    };
  }

  async stop(): Promise<void> {
    this.child.kill("SIGTERM");
    await this.exited;
  }
}
