// Per-sample trace of the `--kernel` child's incremental phase
// (FXBENCH_SAMPLE_TRACE=1): each timed change's graph and apply time, its
// dataplane steps and the garbage collections that ran inside it (from
// perf_hooks' gc entries, which arrive after the fact), one stderr line each.
// For p99 outliers: tells a collector's pause from the kernel's or our own work.

import { type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";

interface Window {
  readonly label: string;
  readonly from: number;
  readonly to: number;
  readonly detail: string;
  readonly usage: string;
}

/** What the process used between two readings: CPU ms, page faults, context switches (involuntary: preempted). */
export type Usage = NodeJS.ResourceUsage;
export const usage = (): Usage => process.resourceUsage();
function usageText(a: Usage, b: Usage): string {
  const cpu = (b.userCPUTime - a.userCPUTime + b.systemCPUTime - a.systemCPUTime) / 1000;
  const sys = (b.systemCPUTime - a.systemCPUTime) / 1000;
  return `cpu ${cpu.toFixed(1)} (sys ${sys.toFixed(1)}), minflt ${b.minorPageFault - a.minorPageFault}, ctxsw ${b.voluntaryContextSwitches - a.voluntaryContextSwitches}/${b.involuntaryContextSwitches - a.involuntaryContextSwitches}`;
}

// perf_hooks' gc kinds (NODE_PERFORMANCE_GC_*).
const KIND: Record<number, string> = { 1: "minor", 2: "major", 4: "incremental", 8: "weakcb" };

export interface SampleTrace {
  sample(label: string, from: number, to: number, detail: string, before: Usage, after: Usage): void;
  /** Writes the lines of the samples so far (after a tick, so their gc entries have arrived). */
  flush(write: (line: string) => void): Promise<void>;
  stop(): void;
}

export function startSampleTrace(on = process.env.FXBENCH_SAMPLE_TRACE === "1"): SampleTrace {
  if (!on) return { sample() {}, flush: async () => {}, stop() {} };
  const gcs: PerformanceEntry[] = [];
  const obs = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
  obs.observe({ entryTypes: ["gc"] });
  let windows: Window[] = [];
  return {
    sample(label, from, to, detail, before, after) {
      windows.push({ label, from, to, detail, usage: usageText(before, after) });
    },
    async flush(write) {
      await new Promise((r) => setTimeout(r, 50));
      for (const w of windows) {
        const inside = gcs.filter((g) => g.startTime < w.to && g.startTime + g.duration > w.from);
        const gc = inside.map((g) => {
          const kind = KIND[(g as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? "?";
          return `${kind} ${g.duration.toFixed(1)}`;
        });
        write(`${w.label} ${(w.to - w.from).toFixed(1)} ms: ${w.detail}; ${w.usage}; gc [${gc.join(", ")}]`);
      }
      windows = [];
    },
    stop() {
      obs.disconnect();
    },
  };
}
