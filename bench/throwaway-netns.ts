// Throwaway network namespaces for the bench's kernel runs ("fxbench-<pid>-<hex>"):
// created and deleted here, all deleted on exit and SIGINT/SIGTERM, and those of
// killed runs removed at the next run; and whether this machine can run them at all.

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { IptablesMode } from "../iptables/backend.js";

const NETNS_PREFIX = "fxbench";
const liveNamespaces = new Set<string>();

export function deleteNetns(name: string): void {
  spawnSync("ip", ["netns", "del", name], { stdio: "ignore" });
  liveNamespaces.delete(name);
}

export function createNetns(): string {
  const name = `${NETNS_PREFIX}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const r = spawnSync("ip", ["netns", "add", name], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip netns add ${name} failed: ${r.stderr?.trim() || r.error?.message}`);
  liveNamespaces.add(name);
  return name;
}

/** Removes namespaces left by benchmark runs that were killed. */
export function removeStaleNamespaces(): void {
  const r = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  for (const line of (r.stdout ?? "").split("\n")) {
    const name = line.split(" ")[0];
    const m = new RegExp(`^${NETNS_PREFIX}-(\\d+)-`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = pid === process.pid;
    if (!alive) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch {
        alive = false;
      }
    }
    if (!alive) deleteNetns(name);
  }
}

process.on("exit", () => {
  for (const ns of [...liveNamespaces]) deleteNetns(ns);
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    for (const ns of [...liveNamespaces]) deleteNetns(ns);
    process.exit(130);
  });
}

export function kernelSkipReason(backend: IptablesMode): string | undefined {
  if (process.platform !== "linux") return `needs Linux (platform is ${process.platform})`;
  if (process.getuid?.() !== 0) return "needs root (network namespaces, iptables, ipset)";
  for (const [cmd, args] of [
    ["ip", ["-V"]],
    ["ipset", ["version"]],
    [`iptables-${backend}-restore`, ["--version"]],
  ] as const) {
    const r = spawnSync(cmd, args, { stdio: "ignore" });
    if (r.error || r.status !== 0) return `needs ${cmd}`;
  }
  return undefined;
}
