// Per-sample trace of the `--kernel` child's incremental phase
// (FXBENCH_SAMPLE_TRACE=1): each timed change's graph and apply time, its
// dataplane steps and the garbage collections that ran inside it (from
// perf_hooks' gc entries, which arrive after the fact), one stderr line each.
// For p99 outliers: tells a collector's pause from the kernel's or our own work.

import { constants, type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";

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

/** perf_hooks' gc entry kinds by name (gc-log-preload.ts too). */
export const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};

export interface SampleTrace {
  /** `steps`: the dataplane's step times (ms) of the sample, those above 0 printed. */
  sample(
    label: string,
    from: number,
    to: number,
    graphMs: number,
    steps: Readonly<Record<string, number>>,
    before: Usage,
    after: Usage,
  ): void;
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
    sample(label, from, to, graphMs, steps, before, after) {
      const stepText = Object.entries(steps)
        .filter(([, ms]) => ms > 0)
        .map(([k, ms]) => `${k} ${ms.toFixed(1)}`);
      const detail = [`graph ${graphMs.toFixed(1)}`, ...stepText].join(", ");
      windows.push({ label, from, to, detail, usage: usageText(before, after) });
    },
    async flush(write) {
      await new Promise((r) => setTimeout(r, 50));
      for (const w of windows) {
        const inside = gcs.filter((g) => g.startTime < w.to && g.startTime + g.duration > w.from);
        const gc = inside.map((g) => {
          const kind = GC_KINDS[(g as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? "?";
          return `${kind} ${g.duration.toFixed(1)}`;
        });
        write(`${w.label} ${(w.to - w.from).toFixed(1)} ms: ${w.detail}; ${w.usage}; gc [${gc.join(", ")}]`);
      }
      windows = [];
      gcs.length = 0; // the next samples start after these
    },
    stop() {
      obs.disconnect();
    },
  };
}
