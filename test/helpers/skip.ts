// The one place where the suite decides what to do with a test that cannot run
// here (no root, a missing tool, a kernel without a feature):
//
//   - it is registered with node:test's `skip` option and the reason, never left
//     out of the run or returned from early, so the runner counts it and the
//     summary (test/helpers/skip-reporter.ts) lists it with the reason;
//   - under FELIX_TEST_STRICT=1 (CI: root, every tool installed) a skip is a
//     failure: each file that skips gets one failing test listing its skips.
//
// Tests use skipIf(reason) as the options of a test or suite, and skipNow(t,
// reason) for what is found out only while a test runs.

import { basename } from "node:path";
import { type TestContext, test } from "node:test";

export const STRICT = process.env.FELIX_TEST_STRICT === "1";

/** A reason not to run, or nothing (undefined, false, null, ""): the test runs. */
export type SkipReason = string | undefined | false | null;

/** Skips of this file, by reason, for the strict-mode failure. */
const skipped = new Map<string, number>();

/**
 * node:test options for a test or suite that needs what `reason` says is
 * missing: `{ skip: reason }`, or `{ skip: false }` when it can run. Under
 * FELIX_TEST_STRICT=1 the first skip of a file also registers a failing test
 * (at the same place) that lists every skip of the file.
 */
export function skipIf(reason: SkipReason): { skip: string | false } {
  if (!reason) return { skip: false };
  if (STRICT && skipped.size === 0) {
    // node --test runs each file in a process of its own: argv[1] is the file.
    test(`FELIX_TEST_STRICT=1: ${basename(process.argv[1] ?? "this file")} skips tests`, () => {
      const list = [...skipped].map(([why, n]) => `  ${n} × ${why}`).join("\n");
      throw strictError(`FELIX_TEST_STRICT=1 forbids skips; skipped here:\n${list}`);
    });
  }
  skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
  return { skip: reason };
}

/**
 * Skips the running test with the reason (a condition found out only now);
 * under FELIX_TEST_STRICT=1 fails it instead. Return right after it.
 */
export function skipNow(t: TestContext, reason: string): void {
  if (STRICT) throw strictError(`FELIX_TEST_STRICT=1 forbids skips; this test would skip: ${reason}`);
  t.skip(reason);
}

/** An error whose stack is only its message: where the helper threw says nothing. */
function strictError(message: string): Error {
  const e = new Error(message);
  e.stack = `Error: ${message}`;
  return e;
}
