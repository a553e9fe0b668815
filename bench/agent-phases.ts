// The runner's end-to-end phases (agent, kubernetes): the real felix over the file
// and Kubernetes datastores (bench/agent.ts), then the floor it is compared with,
// each in throwaway namespaces.

import { spawnSync } from "node:child_process";
import { type AgentFigures, type AgentOptions, fileDatastoreRuns, kubernetesRuns } from "./agent.js";
import type { FloorResult } from "./kernel-protocol.js";
import { jobBase, runChild } from "./kernel-run.js";
import type { PresetResult } from "./preset-result.js";
import { progress } from "./progress.js";
import type { RunOptions } from "./run-options.js";
import { SyntheticCluster } from "./scale.js";
import { PRESETS, type PresetName } from "./scale-spec.js";
import { createNetns, deleteNetns, kernelSkipReason } from "./throwaway-netns.js";

/** The real felix process over the file and Kubernetes datastores, and the floor, each in fresh namespaces. */
export async function agentPhases(preset: PresetName, o: RunOptions): Promise<PresetResult["agent"]> {
  const skip = kernelSkipReason(o.backend) ?? (spawnSync("python3", ["-V"]).status === 0 ? undefined : "needs python3");
  if (skip) return { skipped: skip };
  const spec = PRESETS[preset];
  const netns = { create: createNetns, remove: deleteNetns };
  const ao: AgentOptions = {
    backend: o.backend,
    dataplane: o.dataplane,
    proxyMode: o.proxyMode,
    samples: o.agentSamples,
    onceRuns: o.onceRuns,
    kinds: o.kinds,
    churn: o.churn,
    kubernetes: o.only.includes("kubernetes"),
  };
  const make = () => new SyntheticCluster(spec, o.seed);
  progress(`${preset}: the real agent (file datastore)`);
  let figures: AgentFigures = { files: 0, bytes: 0 };
  if (o.only.includes("agent")) figures = await fileDatastoreRuns(make, netns, ao);
  if (ao.kubernetes) {
    progress(`${preset}: the real agent (Kubernetes datastore, fake API server)`);
    figures = { ...figures, kubernetes: await kubernetesRuns(make, netns, ao) };
  }
  // The floor swings by a third from one run to the next on this VM (3.6-4.8 s at large in one
  // afternoon): its median of FLOOR_RUNS, each in a fresh namespace, the first with the table probes.
  const job = { ...jobBase(spec, o), warmup: 0, kinds: [], mode: "floor" as const, samples: 0, ipv6: true };
  const runs: FloorResult[] = [];
  for (let i = 0; i < FLOOR_RUNS; i++) {
    const nsFloor = createNetns();
    try {
      runs.push((await runChild(nsFloor, i === 0 ? job : { ...job, tableProbes: false })) as FloorResult);
    } finally {
      deleteNetns(nsFloor);
    }
  }
  const backend = o.dataplane === "nftables" ? "nftables" : o.backend;
  const floorRunsMs = runs.map((r) => r.totalMs);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const floorMs = median(floorRunsMs);
  progress(
    `kernel-write floor: ${floorRunsMs.map((ms) => ms.toFixed(0)).join(", ")} ms (median ${floorMs.toFixed(0)})`,
  );
  const perTable = runs.flatMap((r) => (r.perTableMs === undefined ? [] : [r.perTableMs]));
  const floorPerTableMs = perTable.length > 0 ? median(perTable) : undefined;
  if (floorPerTableMs !== undefined)
    progress(
      `per-table floor: ${perTable.map((ms) => ms.toFixed(0)).join(", ")} ms (median ${floorPerTableMs.toFixed(0)})`,
    );
  const perTableFloor = floorPerTableMs === undefined ? {} : { floorPerTableMs };
  return { figures, floorMs, floorRunsMs, ...perTableFloor, backend, tableChangeMs: runs[0].tableChangeMs };
}

/** Cold floor measurements, each in a fresh namespace; the median is the floor. */
const FLOOR_RUNS = 3;
