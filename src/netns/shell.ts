// Host helpers of the kernel test topology: running programs, in a netns or not, and finding them.

import { execFileSync, spawn as spawnChild } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Endpoint } from "./types.js";

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export interface RunOptions {
  readonly input?: string;
  /** Resolve instead of throwing on a non-zero exit. */
  readonly allowFail?: boolean;
  readonly timeoutMs?: number;
}

/** Runs a program to completion (no shell). Throws with stderr on failure unless allowFail. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawnChild(cmd, args as string[], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const c = code ?? (signal ? 128 : 1);
      if (c !== 0 && !opts.allowFail) {
        reject(new Error(`${cmd} ${args.join(" ")} → exit ${code ?? signal}: ${stderr.trim() || stdout.trim()}`));
      } else resolveRun({ stdout, stderr, code: c });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}

/** `ip netns exec <ns> <cmd> <args…>`; resolves to stdout, throws on failure. */
export async function exec(ns: string, cmd: string, ...args: string[]): Promise<string> {
  return (await run("ip", ["netns", "exec", ns, cmd, ...args])).stdout;
}

/** `ip -n <ns> <args…>` (cheaper than `ip netns exec` for iproute2 itself). */
export async function ipn(ns: string, ...args: string[]): Promise<string> {
  return (await run("ip", ["-n", ns, ...args])).stdout;
}

/** Several `ip` commands in one process: `ip -n <ns> -batch -`. */
export async function ipBatch(ns: string, lines: readonly string[]): Promise<void> {
  if (lines.length) await run("ip", ["-n", ns, "-batch", "-"], { input: `${lines.join("\n")}\n` });
}

/** Sets sysctls in a netns; keys in dotted or slashed form ("net.ipv4.ip_forward", "net/ipv4/conf/x/rp_filter"). */
export async function sysctls(ns: string, values: Readonly<Record<string, string | number>>): Promise<void> {
  const args = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  if (args.length) await exec(ns, "sysctl", "-q", "-w", ...args);
}

/** Calico's host-side interface name for a pod: "cali" + first 11 hex chars of sha1("<namespace>.<name>"). */
export function hostSide(pod: { readonly namespace: string; readonly name: string } | string, name?: string): string {
  const [ns, n] = typeof pod === "string" ? [pod, name ?? ""] : [pod.namespace, pod.name];
  return `cali${createHash("sha1").update(`${ns}.${n}`).digest("hex").slice(0, 11)}`;
}

export function netnsOf(e: Endpoint): string {
  return e.netns;
}

export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/** The path of an executable on PATH or in the sbin directories (root's tools), if any. */
export function which(cmd: string, path = process.env.PATH ?? ""): string | undefined {
  const dirs = path.split(delimiter).concat(["/usr/sbin", "/sbin", "/usr/local/sbin"]);
  for (const d of dirs) {
    const p = join(d, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

let python: string | null | undefined;
/**
 * The real python3 binary (not a pyenv shim: those are shell scripts that cost
 * tens of ms per start). FELIX_E2E_PYTHON overrides. undefined if there is none.
 */
export function pythonPath(): string | undefined {
  if (python === undefined) {
    python = process.env.FELIX_E2E_PYTHON ?? null;
    if (!python && which("python3")) {
      try {
        python =
          execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim() || null;
      } catch {
        python = null;
      }
    }
  }
  return python ?? undefined;
}

/** The iptables binary matching the agent's backend: iptables-legacy when present. */
export function iptablesCmd(): string {
  return which("iptables-legacy") ? "iptables-legacy" : "iptables";
}

/** Why kernel end-to-end tests cannot run here, or undefined when they can. */
export function requirementsMissing(): string | undefined {
  if (process.platform !== "linux") return "kernel tests need Linux";
  if (!isRoot()) return "kernel tests need root (network namespaces, iptables)";
  const missing = ["ip", "ipset", "iptables-legacy-restore", "sysctl"].filter((c) => !which(c));
  if (!pythonPath()) missing.push("python3");
  if (missing.length) return `kernel tests need: ${missing.join(", ")}`;
  if (!serverScript()) return "src/netns/pod-server.py not found";
  return undefined;
}

export function serverScript(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  // From source (src/netns/) or compiled (dist/src/netns/ → ../../../src/netns/).
  return [join(here, "pod-server.py"), resolve(here, "../../../src/netns/pod-server.py")].find((p) => existsSync(p));
}
