// The slowest test files of a run, by the time of their top-level tests (what
// the spec reporter prints per top-level test, summed per file): printed after
// the run, so a CI log says where its time went. Process start-up and imports
// are not counted (a few hundred ms per file).

import { relative } from "node:path";

interface TestEvent {
  type: string;
  data?: { nesting?: number; file?: string; details?: { duration_ms?: number } };
}

export class FileTimes {
  private readonly ms = new Map<string, number>();

  /** Counts a top-level test's (or suite's) duration to its file. */
  add(ev: TestEvent): void {
    if ((ev.type !== "test:pass" && ev.type !== "test:fail") || ev.data?.nesting !== 0 || !ev.data.file) return;
    this.ms.set(ev.data.file, (this.ms.get(ev.data.file) ?? 0) + (ev.data.details?.duration_ms ?? 0));
  }

  /** The `n` slowest files, one per line, slowest first. */
  text(n: number): string {
    const rows = [...this.ms].sort((a, b) => b[1] - a[1]).slice(0, n);
    if (rows.length === 0) return "";
    const lines = rows.map(([f, ms]) => `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${relative(process.cwd(), f)}`);
    return `\nslowest test files (their top-level tests' time):\n${lines.join("\n")}\n`;
  }
}
