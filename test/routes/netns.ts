// Helpers for real-kernel tests: throwaway network namespaces and child node
// processes run inside them with `ip netns exec` (netlink sockets and
// /proc/sys/net bind to the namespace of the process that opens them, and node
// cannot setns(2) itself).

import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readlinkSync } from "node:fs";
import { type NodeChildRun, runNodeInNetns } from "../../src/netns/node-child.js";

/** Why real-kernel tests cannot run here, or undefined when they can. */
export function netnsSkipReason(): string | undefined {
  if (process.platform !== "linux") return `needs Linux (platform is ${process.platform})`;
  if (process.getuid?.() !== 0) return `needs root to create network namespaces (uid ${process.getuid?.()})`;
  const ip = spawnSync("ip", ["-V"], { encoding: "utf8" });
  if (ip.error || ip.status !== 0) return "needs iproute2 (`ip` not found)";
  return undefined;
}

/** Creates a namespace with a unique name; always pair with deleteNetns. */
export function createNetns(prefix: string): string {
  const name = `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
  execFileSync("ip", ["netns", "add", name]);
  return name;
}

/**
 * The prefix that runs a command in the namespace's network only: `nsenter
 * --net`, about half the time per process of `ip netns exec`, which also
 * unshares a mount namespace and remounts /sys. For nft, iptables and ipset
 * (netlink and /proc/net, both per network namespace), not for what reads
 * /sys/class/net.
 */
export function inNetns(name: string): string[] {
  return ["nsenter", `--net=/run/netns/${name}`];
}

export function deleteNetns(name: string): void {
  spawnSync("ip", ["netns", "del", name]);
}

export function netnsExists(name: string): boolean {
  return spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
    .stdout.split("\n")
    .some((l) => l.split(" ")[0] === name);
}

export function currentNetnsId(): string {
  return readlinkSync("/proc/self/ns/net");
}

export type ChildRun = NodeChildRun;

/**
 * Runs `node <script>` inside the namespace with FELIX_NETNS_CHILD=<scenario>.
 * The child must exit by itself (its sockets closed) before the timeout.
 */
export function runInNetns(ns: string, script: string, scenario: string, timeoutMs = 30_000): Promise<ChildRun> {
  return runNodeInNetns(ns, script, { env: { ...process.env, FELIX_NETNS_CHILD: scenario }, timeoutMs });
}

/** For child scripts: run a command in the current namespace and return stdout. */
export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8" });
}
