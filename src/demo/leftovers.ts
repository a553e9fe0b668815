// Leftovers of demos whose process was killed (SIGKILL, a closed terminal):
// network namespaces "demo<4 hex>-…" and temp directories "felix-demo-demo<4 hex>"
// whose owning process (recorded by Topology in /run/felix-ts-e2e) is gone.
// A demo still running in another terminal is not a leftover.

import { rmSync } from "node:fs";
import { Topology } from "../netns/topology.js";
import { DEMO_STEM, demoTempDirs } from "./demo-cluster.js";

export interface Leftovers {
  readonly namespaces: readonly string[];
  readonly dirs: readonly string[];
}

export async function findLeftovers(): Promise<Leftovers> {
  const namespaces = await Topology.cleanupStale(DEMO_STEM, { dryRun: true });
  const dirs = demoTempDirs()
    .filter((d) => !Topology.ownerAlive(d.prefix))
    .map((d) => d.path);
  return { namespaces, dirs };
}

/** Removes leftovers (killing what still runs in their namespaces); returns what it removed. */
export async function removeLeftovers(): Promise<Leftovers> {
  const dirs = (await findLeftovers()).dirs;
  const namespaces = await Topology.cleanupStale(DEMO_STEM);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  return { namespaces, dirs };
}

export function describeLeftovers(l: Leftovers): string {
  const prefixes = [...new Set(l.namespaces.map((n) => n.slice(0, n.indexOf("-"))))];
  const parts: string[] = [];
  if (l.namespaces.length)
    parts.push(`${l.namespaces.length} network namespaces (${prefixes.map((p) => `${p}-*`).join(", ")})`);
  if (l.dirs.length) parts.push(l.dirs.join(", "));
  return parts.join(" and ");
}
