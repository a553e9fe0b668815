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
  const nsFloor = createNetns();
  try {
    const job = { ...jobBase(spec, o), warmup: 0, kinds: [], mode: "floor" as const, samples: 0, ipv6: true };
    const floor = (await runChild(nsFloor, job)) as FloorResult;
    const backend = o.dataplane === "nftables" ? "nftables" : o.backend;
    return { figures, floorMs: floor.totalMs, backend, tableChangeMs: floor.tableChangeMs };
  } finally {
    deleteNetns(nsFloor);
  }
}
