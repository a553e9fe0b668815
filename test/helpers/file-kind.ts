// Which test files may run next to each other (test/run.ts's first pass): those
// that need nothing of the machine. A file is machine-bound when it, or a
// module of test/ that it imports (a helper, a fixture), reaches the kernel or
// network namespaces, sockets, or child processes — or lives in test/e2e. Such
// files share the kernel, ports or the CPU-sensitive probe timeouts of the e2e
// suites, and run one at a time. A test file whose processes need no kernel
// (felix-dump over manifests, mkfifo) says so with MACHINE_FREE_MARK and a
// reason in a comment. The test is on the compiled text, by what a file imports:
// a unit test that drives src/ code which could spawn injects a fake, or it is
// a kernel test and uses a network namespace (a marker above).

import { readFileSync } from "node:fs";
import { dirname, resolve, sep } from "node:path";

/** Kernel, network namespaces, sockets: never next to another file. */
const MACHINE =
  /(?:from\s*|import\s*\(\s*)["'](?:node:)?(?:net|http|https|http2|dgram|cluster)["']|\bfetch\(|netns\/(?:topology|node-child)|createNetns|requirementsMissing|ip netns|unshare/;
/** Child processes: next to another file only when the test file carries MACHINE_FREE_MARK. */
const PROCESSES = /(?:from\s*|import\s*\(\s*)["'](?:node:)?child_process["']/;
export const MACHINE_FREE_MARK = "test-runner: machine-free";
/** Relative imports of a compiled ES module (static, for side effects only, and dynamic). */
const RELATIVE_IMPORT = /(?:from\s*|import\s*\(\s*|\bimport\s*)["'](\.{1,2}\/[^"']+)["']/g;

/**
 * What a compiled test file needs, with the modules under `testRoot` (the compiled test/ directory)
 * that it imports: "machine" (kernel, network namespaces, sockets, unmarked processes), "processes"
 * (marked: processes that need no kernel) or "pure".
 */
export function fileKind(file: string, testRoot: string): "machine" | "processes" | "pure" {
  if (file.split(sep).includes("e2e")) return "machine";
  let marked: boolean | undefined;
  let processes = false;
  for (const [, text] of testModules(file, testRoot)) {
    if (text === undefined) return "machine"; // unreadable: do not guess
    marked ??= text.includes(MACHINE_FREE_MARK); // the test file's own say
    if (MACHINE.test(text)) return "machine";
    if (PROCESSES.test(text)) {
      if (!marked) return "machine";
      processes = true;
    }
  }
  return processes ? "processes" : "pure";
}

/**
 * A compiled test file and the modules under `testRoot` that it imports, directly or not (the file
 * first), each with its text (undefined when unreadable).
 */
export function* testModules(file: string, testRoot: string): Generator<[string, string | undefined]> {
  const seen = new Set<string>();
  const todo = [file];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch {
      yield [f, undefined];
      continue;
    }
    yield [f, text];
    for (const m of text.matchAll(RELATIVE_IMPORT)) {
      const dep = resolve(dirname(f), m[1]!);
      // Only the test tree's own modules: src/ is reached through the tests that drive it.
      if (dep.startsWith(resolve(testRoot) + sep)) todo.push(dep);
    }
  }
}
