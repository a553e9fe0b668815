// Allocation sampling for a bench phase (FXBENCH_ALLOC_PROFILE=<file>): V8's
// sampling heap profiler, counting objects the garbage collector has freed
// since, so it shows who makes the garbage of a phase, not only what is live
// at its end. With FXBENCH_ALLOC_PROMOTED=1 it leaves out what a scavenge
// freed (as promoted-preload.ts does for the daemon): what the phase promotes
// to the old generation. Write the profile with `stop`, read it with
// `node dist/bench/alloc-summary.js <file> --applies <n>` (alloc-summary.ts).

import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";

export interface AllocSampling {
  stop(): Promise<void>;
}

/** Starts sampling when FXBENCH_ALLOC_PROFILE names a file, else does nothing. */
export async function startAllocSampling(file = process.env.FXBENCH_ALLOC_PROFILE): Promise<AllocSampling> {
  if (!file) return { stop: async () => {} };
  const session = new Session();
  session.connect();
  const promoted = process.env.FXBENCH_ALLOC_PROMOTED === "1";
  await session.post("HeapProfiler.startSampling", {
    // Finer when only survivors count: far fewer bytes to sample.
    samplingInterval: promoted ? 512 : 16 * 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: !promoted,
  });
  return {
    stop: async () => {
      const { profile } = await session.post("HeapProfiler.stopSampling");
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}
