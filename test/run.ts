// `npm test`: runs the test files — `*.test.ts` under test/, compiled — and
// nothing else (fixtures, helpers and netns children are not tests), with the
// spec reporter and the skip summary (test/helpers/skip-reporter.ts).
//
// `npm test -- <file.test.js|dir> ...` runs only those (a directory: its test
// files). FELIX_TEST_STRICT=1 makes any skip fail the run (test/helpers/skip.ts).
// The file list comes from the sources, so a stale compiled test whose source
// was deleted does not run.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const distTest = dirname(fileURLToPath(import.meta.url)); // <root>/dist/test
const root = resolve(distTest, "../..");

/** Compiled test files for the `*.test.ts` sources under `dir` (a directory of the source tree), sorted. */
export function testFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith(".test.ts")) out.push(p);
    }
  };
  walk(dir);
  return out.map((p) => join(root, "dist", relative(root, p)).replace(/\.ts$/, ".js")).sort();
}

function selected(args: readonly string[]): string[] {
  if (args.length === 0) return testFiles(join(root, "test"));
  return args.flatMap((a) => {
    const p = resolve(a);
    if (!statSync(p).isDirectory()) return [p];
    // A directory of dist/test: the test files of its source directory.
    return testFiles(join(root, relative(join(root, "dist"), p)));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = selected(process.argv.slice(2));
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) {
    console.error(`not built (run tsc -p .): ${missing.join(", ")}`);
    process.exit(2);
  }
  const reporter = join(distTest, "helpers", "skip-reporter.js");
  const r = spawnSync(
    process.execPath,
    [
      "--test",
      "--test-reporter=spec",
      "--test-reporter-destination=stdout",
      `--test-reporter=${reporter}`,
      "--test-reporter-destination=stdout",
      ...files,
    ],
    { stdio: "inherit" },
  );
  process.exit(r.status ?? 1);
}
