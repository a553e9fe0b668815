// `npm test`: runs the test files — `*.test.ts` under test/, compiled — and
// nothing else (fixtures, helpers and netns children are not tests), with the
// spec reporter and the skip summary (test/helpers/skip-reporter.ts).
//
// `npm test -- <file.test.js|dir> ...` runs only those (a directory: its test
// files). FELIX_TEST_STRICT=1 makes any skip fail the run (test/helpers/skip.ts).
// The file list comes from the sources, so a stale compiled test whose source
// was deleted does not run.
//
// Passes, one report (test/helpers/passes.ts): the files that need nothing
// of the machine (no kernel, no processes, no sockets: test/helpers/file-kind.ts)
// run as many at a time as there are cores; then the kernel and e2e files a
// few at a time (FELIX_TEST_MACHINE_CONCURRENCY, default 3: they mostly wait on
// probes, timeouts and the kernel; each builds its own network namespaces,
// with random names; they share the CPU and the xtables lock, which
// iptables-legacy waits for; the demo's runs hold a lock of their own). Any
// failed test fails the run. FELIX_TEST_MODES=all also runs the kernel e2e files in the other
// dataplane modes, in the same pass (test/helpers/modes.ts).

import { existsSync, readdirSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { pythonPath } from "../src/netns/shell.js";
import { fileKind } from "./helpers/file-kind.js";
import { extraModes, ModeWrappers } from "./helpers/modes.js";
import { runPasses } from "./helpers/passes.js";

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
  // The pod servers' python3, looked up once for every file and demo process it starts (through a
  // pyenv shim, each lookup costs ~0.15 s of CPU).
  const python = pythonPath();
  if (python) process.env.FELIX_E2E_PYTHON = python;
  const kinds = new Map(files.map((f) => [f, fileKind(f, distTest)]));
  // The files that start processes (felix-dump) are the long ones: first, so both slots end together.
  const free = [...files.filter((f) => kinds.get(f) === "processes"), ...files.filter((f) => kinds.get(f) === "pure")];
  const machine = files.filter((f) => kinds.get(f) === "machine");
  const wrappers = new ModeWrappers(distTest);
  const modes = allModes();
  // The e2e suites (the long ones) first, then their runs in the other modes (a demo run in another mode
  // starts well after the first, so it rarely waits for its lock), then the kernel unit files.
  const e2e = machine.filter((f) => f.startsWith(join(distTest, "e2e", "/")));
  const runs = [
    ...e2e,
    ...(modes ? (["nftables", "proxy-nftables"] as const) : []).flatMap((m) =>
      e2e.filter((f) => extraModes(f, distTest).includes(m)).map((f) => wrappers.wrap(f, m)),
    ),
    ...machine.filter((f) => !e2e.includes(f)),
  ];
  // FELIX_TEST_CONCURRENCY overrides the first pass's width (1: everything one file at a time).
  const width = Number(process.env.FELIX_TEST_CONCURRENCY ?? availableParallelism());
  const machineWidth = Number(process.env.FELIX_TEST_MACHINE_CONCURRENCY ?? 3);
  let ok = false;
  try {
    ok = await runPasses(
      [
        { files: free, concurrency: Math.max(1, width) },
        { files: runs, concurrency: Math.max(1, machineWidth) },
      ],
      join(distTest, "helpers", "skip-reporter.js"),
      (ev) => wrappers.relabel(ev),
    );
  } finally {
    wrappers.remove();
  }
  process.exit(ok ? 0 : 1);
}

/** FELIX_TEST_MODES=all: the kernel e2e suites in every dataplane mode (the variables of one mode must be unset). */
function allModes(): boolean {
  const v = process.env.FELIX_TEST_MODES;
  if (v === undefined || v === "") return false;
  if (v !== "all") throw new Error(`FELIX_TEST_MODES must be all (or unset), not ${v}`);
  for (const k of ["FELIX_TEST_DATAPLANE", "FELIX_TEST_PROXYMODE", "FELIX_NFTABLESMODE", "FELIX_PROXYMODE"]) {
    if (process.env[k]) throw new Error(`FELIX_TEST_MODES=all runs every mode: unset ${k}`);
  }
  return true;
}
