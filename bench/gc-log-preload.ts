// V8's garbage collections of the real felix process as log lines: a preload for
// the processes the bench starts (`FXBENCH_FELIX_NODE_ARGS="--import
// <root>/dist/bench/gc-log-preload.js"`, with FXBENCH_FELIX_LOG=<file>). Each
// collection is one JSON line on stderr, `{"gc": kind, "time": <epoch ms at its
// start>, "ms": duration}`, on the log's clock; with FXBENCH_AGENT_SAMPLES it
// tells which sampled changes a collection ran inside (`gc-samples.ts`).
// Scavenges are left out unless FXBENCH_GC_LOG_MINOR=1 (the daemon makes one
// after every apply: src/heap.ts).

import { PerformanceObserver, performance } from "node:perf_hooks";
import { GC_KINDS } from "./sample-trace.js";

const minor = process.env.FXBENCH_GC_LOG_MINOR === "1";
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = GC_KINDS[(e as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? "other";
    if (kind === "minor" && !minor) continue;
    const time = performance.timeOrigin + e.startTime;
    process.stderr.write(`${JSON.stringify({ gc: kind, time: Math.round(time * 10) / 10, ms: e.duration })}\n`);
  }
}).observe({ entryTypes: ["gc"] });
