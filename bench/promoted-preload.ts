// What the real agent promotes to V8's old generation: a preload for the
// felix processes the bench starts (`FXBENCH_FELIX_NODE_ARGS="--import
// <root>/dist/bench/promoted-preload.js"`). With FXBENCH_PROMOTED_PROFILE=<file>
// it samples allocations from FXBENCH_PROMOTED_FROM_MS to FXBENCH_PROMOTED_TO_MS
// after the process starts (default 30-90 s: the daemon's sampled changes at
// `large`), keeping what survived a scavenge (objects a minor GC freed are left
// out, those a major GC freed stay in): the old-generation growth that brings
// the next full collection, and with it the concurrent marking that competes
// with a change for the CPU. Read it with `node dist/bench/alloc-summary.js
// <file> --applies <n>`, n the `dataplane programmed` lines of the window.
// It found the per-change copies of whole IP set member Sets (model/member-set.ts).

import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";

const file = process.env.FXBENCH_PROMOTED_PROFILE;
if (file) {
  const from = Number(process.env.FXBENCH_PROMOTED_FROM_MS ?? 30_000);
  const to = Number(process.env.FXBENCH_PROMOTED_TO_MS ?? 90_000);
  const session = new Session();
  session.connect();
  const mark = (what: string) =>
    process.stderr.write(`${JSON.stringify({ promotedProfile: what, time: Date.now() })}\n`);
  setTimeout(async () => {
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 512,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: false,
    });
    mark("started");
    setTimeout(async () => {
      const { profile } = await session.post("HeapProfiler.stopSampling");
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      mark("written");
    }, to - from).unref();
  }, from).unref();
}
