// Runs test files in passes (each with its own file concurrency) as one run:
// one event stream to the spec reporter and the skip reporter, and one closing
// summary ("ℹ tests N", "ℹ pass N", …) over all passes in place of each
// pass's own. The run fails as `node --test` fails: on any failed test that is
// not a todo (a file that crashes before or between its tests fails as a test
// too), or when a reporter sets the exit code (the skip reporter under
// FELIX_TEST_STRICT=1).

import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { run } from "node:test";
import { spec } from "node:test/reporters";
import { FileTimes } from "./file-times.js";

export interface Pass {
  readonly files: readonly string[];
  /** Files run at the same time, each in a process of its own. */
  readonly concurrency: number;
}

interface TestEvent {
  type: string;
  data?: { nesting?: number; file?: string; name?: string; message?: string; todo?: string | boolean };
}

/** The closing counts node:test reports at nesting 0 once per run, summed over the passes. */
const SUMMARY = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) (\d+(?:\.\d+)?)$/;
const SUMMARY_ORDER = ["tests", "suites", "pass", "fail", "cancelled", "skipped", "todo", "duration_ms"];

type Reporter = (source: AsyncIterable<TestEvent>) => AsyncIterable<string>;

/**
 * Runs the passes in order; true when no test failed and no reporter set a failing exit code.
 * `relabel` may rename an event's file and test (a dataplane mode's run: test/helpers/modes.ts), or
 * drop it (false).
 */
export async function runPasses(
  passes: readonly Pass[],
  reporterModule: string,
  relabel: (ev: TestEvent) => boolean = () => true,
): Promise<boolean> {
  let failed = false;
  const totals = new Map<string, number>();
  const times = new FileTimes();
  async function* events(): AsyncGenerator<TestEvent> {
    const t0 = performance.now();
    for (const p of passes) {
      if (p.files.length === 0) continue;
      for await (const ev of run({ files: [...p.files], concurrency: p.concurrency }) as AsyncIterable<TestEvent>) {
        if (!relabel(ev)) continue;
        if (ev.type === "test:fail" && (ev.data?.todo === undefined || ev.data.todo === false)) failed = true;
        times.add(ev);
        const m = ev.type === "test:diagnostic" && ev.data?.nesting === 0 ? SUMMARY.exec(ev.data.message ?? "") : null;
        if (m) {
          totals.set(m[1]!, (totals.get(m[1]!) ?? 0) + Number(m[2]));
          continue;
        }
        yield ev;
      }
    }
    totals.set("duration_ms", performance.now() - t0);
    for (const k of SUMMARY_ORDER) {
      yield { type: "test:diagnostic", data: { nesting: 0, message: `${k} ${totals.get(k) ?? 0}` } };
    }
  }

  const reporter = ((await import(reporterModule)) as { default: Reporter }).default;
  // Every event to both reporters: spec as it comes, the other (a summary) at the end.
  const toSpec = new PassThrough({ objectMode: true });
  const toOther = new PassThrough({ objectMode: true });
  const feed = (async () => {
    for await (const ev of events()) {
      const a = toSpec.write(ev);
      const b = toOther.write(ev);
      if (!a) await new Promise((r) => toSpec.once("drain", r));
      if (!b) await new Promise((r) => toOther.once("drain", r));
    }
    toSpec.end();
    toOther.end();
  })();
  const specDone = pipeline(toSpec, new spec(), process.stdout, { end: false });
  const chunks: string[] = [];
  const otherDone = (async () => {
    for await (const s of reporter(toOther)) chunks.push(s);
  })();
  await Promise.all([feed, specDone, otherDone]);
  process.stdout.write(times.text(15) + chunks.join(""));
  return !failed && (process.exitCode === undefined || process.exitCode === 0);
}
