// A preload for diagnosing the agent's memory (`node --import
// ./dist/bench/mem-probe.js felix.js …` with FXBENCH_MEMPROBE=<file>): samples
// process.memoryUsage() and V8's heap spaces every 50 ms and after each GC,
// and keeps the latest sample and each field's peak in <file> as JSON (and
// each new RSS high, timed, in <file>.highs). Timers
// do not run inside a long synchronous task, so peaks inside one are missed;
// the kernel's VmHWM is the figure of record.

import { appendFileSync, writeFileSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, getHeapStatistics } from "node:v8";

const out = process.env.FXBENCH_MEMPROBE;
if (out) {
  const peak: Record<string, number> = {};
  let last: Record<string, number> = {};
  let gcMs = 0;
  let gcs = 0;
  const sample = () => {
    const mb = (n: number) => Math.round(n / 1e5) / 10;
    const m = process.memoryUsage();
    const h = getHeapStatistics();
    const s: Record<string, number> = {
      rss: mb(m.rss),
      heapTotal: mb(m.heapTotal),
      heapUsed: mb(m.heapUsed),
      external: mb(m.external),
      arrayBuffers: mb(m.arrayBuffers),
      malloced: mb(h.malloced_memory),
      peakMalloced: mb(h.peak_malloced_memory),
    };
    for (const sp of getHeapSpaceStatistics()) {
      s[`${sp.space_name}.size`] = mb(sp.space_size);
      s[`${sp.space_name}.used`] = mb(sp.space_used_size);
    }
    // Each new RSS high by 5 MB or more, with the time (to match the log's apply lines).
    if (s.rss >= (peak.rss ?? 0) + 5) appendFileSync(`${out}.highs`, `${JSON.stringify({ time: Date.now(), ...s })}\n`);
    for (const [k, v] of Object.entries(s)) peak[k] = Math.max(peak[k] ?? 0, v);
    last = s;
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      gcs++;
    }
    sample();
  }).observe({ entryTypes: ["gc"] });
  setInterval(sample, 50).unref();
  setInterval(() => writeFileSync(out, JSON.stringify({ last, peak, gcs, gcMs: Math.round(gcMs) })), 500).unref();
}
