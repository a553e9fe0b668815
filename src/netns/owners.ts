// Stale-run bookkeeping of the kernel test topology: which process owns a prefix
// (/run/felix-ts-e2e/<prefix> holds "<pid> <start time>"), teardown on exit,
// deleting namespaces with the processes left in them, and removing what a killed
// run left behind.

import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./shell.js";

const OWNER_DIR = "/run/felix-ts-e2e";

/** What the exit and signal hooks tear down: the live topologies. */
export interface Teardown {
  destroySync(): void;
}
const live = new Set<Teardown>();
let hooksInstalled = false;

/** "<pid> <start time>" of a process, or undefined when it is gone or a zombie. */
function processIdentity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return f[0] === "Z" || f[0] === "X" ? undefined : `${pid} ${f[19]}`; // state; starttime (field 22)
  } catch {
    return undefined;
  }
}

export function listNetnsSync(): string[] {
  try {
    return readdirSync("/run/netns");
  } catch {
    return [];
  }
}

/** Kills the processes left in the namespaces, then deletes them (at once); failures are ignored. */
export async function removeNetns(names: readonly string[]): Promise<void> {
  for (const ns of names) {
    const pids = await run("ip", ["netns", "pids", ns], { allowFail: true });
    for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(p), "SIGKILL");
      } catch {}
    }
  }
  await Promise.all(names.map((ns) => run("ip", ["netns", "del", ns], { allowFail: true })));
}

/** Best-effort synchronous teardown, for process exit and signals. */
export function removeNetnsSync(names: readonly string[]): void {
  for (const ns of names) {
    try {
      const pids = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      for (const p of pids.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(p), "SIGKILL");
        } catch {}
      }
    } catch {}
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    } catch {}
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", () => {
    for (const t of live) t.destroySync();
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      for (const t of live) t.destroySync();
      process.kill(process.pid, sig);
    });
  }
}

/** Records this process as the owner of `prefix`; `t` is torn down on exit or SIGINT/SIGTERM. */
export function claim(prefix: string, t: Teardown): void {
  installHooks();
  live.add(t);
  try {
    mkdirSync(OWNER_DIR, { recursive: true });
    writeFileSync(join(OWNER_DIR, prefix), `${processIdentity(process.pid)}\n`);
  } catch {}
}

/** Stops tearing `t` down on exit; with `forget`, the owner record goes too (its namespaces are gone). */
export function release(prefix: string, t: Teardown, forget: boolean): void {
  live.delete(t);
  if (forget) rmSync(join(OWNER_DIR, prefix), { force: true });
}

/**
 * Whether the process that created `prefix` is still running. The record holds
 * "<pid> <start time>": a pid reused since, or a zombie owner (nobody reaps orphans
 * in some containers), counts as dead.
 */
export function ownerAlive(prefix: string): boolean {
  let owner = "";
  try {
    owner = readFileSync(join(OWNER_DIR, prefix), "utf8").trim();
  } catch {}
  return owner !== "" && processIdentity(Number(owner.split(" ")[0])) === owner;
}

/** See Topology.cleanupStale. */
export function cleanupStale(pattern: string | RegExp, o: { force?: boolean; dryRun?: boolean }): string[] {
  let re: RegExp;
  if (typeof pattern !== "string") re = pattern;
  else {
    const p = pattern.replace(/[^a-z0-9]/gi, "");
    // A stem ("fx") matches "fx<4 hex>-…"; a full prefix ("fx3a9c") also matches itself.
    re = new RegExp(/[0-9a-f]{4}$/.test(p) && p.length > 4 ? `^${p}(?:[0-9a-f]{4})?-` : `^${p}[0-9a-f]{4}-`);
  }
  const owners = new Map<string, boolean>(); // prefix → owner alive
  const doomed: string[] = [];
  for (const ns of listNetnsSync()) {
    if (!re.test(ns)) continue;
    const prefix = ns.slice(0, ns.indexOf("-"));
    let alive = owners.get(prefix);
    if (alive === undefined) {
      alive = !o.force && ownerAlive(prefix);
      owners.set(prefix, alive);
    }
    if (!alive) doomed.push(ns);
  }
  // Pods and nodes before switches, so veth peers vanish with their first end.
  doomed.sort((a, b) => Number(a.endsWith("-sw")) - Number(b.endsWith("-sw")));
  if (o.dryRun) return doomed; // only report (felix demo's leftover check)
  removeNetnsSync(doomed);
  for (const [prefix, alive] of owners) if (!alive) rmSync(join(OWNER_DIR, prefix), { force: true });
  return doomed;
}
