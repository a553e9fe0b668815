// The --kernel part of the runner: the kernel child (bench/kernel-child.ts) run in
// throwaway namespaces, ours (graph + dataplane) then the floor (bare restores),
// and the ratios of the one to the other.

import { fileURLToPath } from "node:url";
import { runNodeInNetns } from "../src/netns/node-child.js";
import type { ChildJob, ChildResult, FloorResult, OursResult } from "./kernel-protocol.js";
import type { KernelCold } from "./preset-result.js";
import type { RunOptions } from "./run-options.js";
import type { ScaleSpec } from "./scale-spec.js";
import { createNetns, deleteNetns } from "./throwaway-netns.js";

const CHILD_SCRIPT = fileURLToPath(new URL("./kernel-child.js", import.meta.url));

export async function runChild(ns: string, job: ChildJob, timeoutMs = 30 * 60_000): Promise<ChildResult> {
  // A profiled run (`node --cpu-prof … run.js`) profiles the kernel child too: that is where the dataplane runs.
  // FXBENCH_KERNEL_NODE_ARGS adds node flags to it (space-separated), as FXBENCH_FELIX_NODE_ARGS to felix.
  const nodeArgs = [
    ...process.execArgv.filter((a) => a.startsWith("--cpu-prof")),
    ...(process.env.FXBENCH_KERNEL_NODE_ARGS ?? "").split(" ").filter(Boolean),
  ];
  const r = await runNodeInNetns(ns, CHILD_SCRIPT, {
    args: [JSON.stringify(job)],
    nodeArgs,
    timeoutMs,
    inheritStderr: true,
  });
  if (r.code !== 0 || r.result === undefined) {
    throw new Error(`kernel child (${job.mode}) failed: exit ${r.code ?? r.signal}`);
  }
  return r.result as ChildResult;
}

/** What every child job of a run holds: the cluster and how it is programmed. */
export function jobBase(spec: ScaleSpec, o: RunOptions) {
  return {
    spec,
    seed: o.seed,
    backend: o.backend,
    dataplane: o.dataplane,
    proxyMode: o.proxyMode,
    heapGrowthPercent: o.heapGrowthPercent,
  };
}

export async function kernelRun(
  spec: ScaleSpec,
  o: RunOptions,
  withIncremental: boolean,
): Promise<{ cold: KernelCold; incremental: OursResult["incremental"] }> {
  const base = { ...jobBase(spec, o), warmup: o.warmup, kinds: o.kinds };
  const nsOurs = createNetns();
  let ours: OursResult;
  try {
    const samples = withIncremental ? (o.kernelSamples ?? o.samples) : 0;
    ours = (await runChild(nsOurs, { ...base, mode: "ours", samples })) as OursResult;
  } finally {
    deleteNetns(nsOurs);
  }
  const nsFloor = createNetns();
  let floor: FloorResult;
  try {
    floor = (await runChild(nsFloor, { ...base, mode: "floor", samples: 0, ipv6: ours.ipv6 })) as FloorResult;
  } finally {
    deleteNetns(nsFloor);
  }
  return {
    cold: {
      backend: ours.backend,
      ipv6: ours.ipv6,
      links: ours.links,
      ours: ours.cold,
      floor,
      totalOverFloor: ours.cold.totalMs / floor.totalMs,
      applyOverFloor: ours.cold.applyMs / floor.totalMs,
      restoreOverFloor: ours.cold.restoreMs / floor.totalMs,
    },
    incremental: ours.incremental,
  };
}
