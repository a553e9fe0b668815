#!/usr/bin/env node

// The cluster-scale benchmark: `npm run bench [-- --preset small|large|xl]
// [--json out.json] [--compare previous.json] [--kernel] [--e2e]`.
//
// Per preset, on a deterministic synthetic cluster (bench/scale.ts):
//   cold start   `new CalcGraph({nodeName: "node-0"}).apply(all updates)`; with
//                --kernel (root) also graph + the real dataplane in a fresh
//                network namespace, the time inside the restores, and the
//                floor: bare `ipset restore` + `iptables-<mode>-restore
//                --noflush` of the rendered state in another fresh namespace;
//   incremental  p50/p99 of `graph.apply([change])` per kind of change (each
//                change reverted, untimed, before the next), with the chains
//                and IP sets it changed (by reference); with --kernel also
//                graph + dataplane.apply and the bytes written;
//   memory       RSS and heap used after cold start and after the random
//                changes (after global.gc: we re-exec with --expose-gc);
//   throughput   updates/s over a burst of random changes in batches.
// Writes the figures as JSON with --json, and shows deltas against --compare.
//
// The parts: run-options.ts (the command line), graph-phases.ts (in memory),
// kernel-run.ts and agent-phases.ts (root, in throwaway-netns.ts's namespaces),
// preset-result.ts (the figures, as --json writes them), preset-report.ts (the text).

import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { lockFileFor } from "../iptables/xtables-lock.js";
import type { Kind } from "../model/resource.js";
import { agentPhases } from "./agent-phases.js";
import { freshGraphHeap, graphPhases } from "./graph-phases.js";
import type { KernelKindResult } from "./kernel-protocol.js";
import { kernelRun } from "./kernel-run.js";
import { hasGc } from "./measure.js";
import { printPreset } from "./preset-report.js";
import type { BenchJson, PresetResult } from "./preset-result.js";
import { progress } from "./progress.js";
import { parseArgs, type RunOptions } from "./run-options.js";
import { type ChangeKind, SyntheticCluster } from "./scale.js";
import { PRESETS, type PresetName } from "./scale-spec.js";
import { kernelSkipReason, removeStaleNamespaces } from "./throwaway-netns.js";

// ─── one preset ──────────────────────────────────────────────────────────────

async function runPreset(preset: PresetName, o: RunOptions): Promise<PresetResult> {
  const spec = PRESETS[preset];
  const phases = new Set(o.only);
  const g0 = performance.now();
  const cluster = new SyntheticCluster(spec, o.seed);
  const generateMs = performance.now() - g0;
  const byKind: Partial<Record<Kind, number>> = {};
  for (const u of cluster.updates) byKind[u.kind] = (byKind[u.kind] ?? 0) + 1;
  const result: PresetResult = {
    preset,
    seed: o.seed,
    proxyMode: o.proxyMode,
    heapGrowthPercent: o.heapGrowthPercent,
    spec,
    inputs: { updates: cluster.updates.length, byKind, generateMs },
  };
  progress(`${preset}: ${cluster.updates.length} updates generated in ${generateMs.toFixed(0)} ms`);
  if (phases.has("agent") || phases.has("kubernetes")) result.agent = await agentPhases(preset, o);
  const memChanged = graphPhases(cluster, o, result);
  if (memChanged && result.memory) freshGraphHeap(o, cluster, memChanged, result.memory.graphHeapMB);
  if (!phases.has("memory")) result.memory = undefined;

  // The kernel, in child processes inside throwaway namespaces.
  const cold = result.cold!;
  if (o.kernel && (phases.has("cold") || phases.has("incremental"))) {
    const skip = kernelSkipReason(o.backend);
    if (skip) {
      cold.kernel = { skipped: skip };
    } else {
      progress(
        `${preset}: kernel runs (${o.dataplane === "nftables" ? "nftables" : o.backend}) in throwaway network namespaces`,
      );
      const k = await kernelRun(spec, o, phases.has("incremental"));
      cold.kernel = k.cold;
      for (const [kind, kr] of Object.entries(k.incremental) as [ChangeKind, KernelKindResult][]) {
        const entry = result.incremental?.kinds[kind];
        if (entry) entry.kernel = kr;
      }
    }
  }
  if (!phases.has("cold")) {
    const { kernel } = cold;
    result.cold = undefined;
    if (kernel && "skipped" in kernel) progress(`kernel skipped: ${kernel.skipped}`);
  }
  return result;
}

// ─── main ────────────────────────────────────────────────────────────────────

/**
 * The xtables lock is one file for the whole machine, across network namespaces: another
 * program's iptables run elsewhere (a test suite in its own namespace) would be timed as ours
 * (waits of 1 s were seen). Every table the bench writes is in its own throwaway namespaces, so
 * its processes (felix, the floor) share a lock of their own; FXBENCH_SHARED_XTABLES_LOCK=1 keeps
 * the machine's. felix holds it over both families' restores, as on a node (iptables/xtables-lock.ts).
 */
function isolateXtablesLock(): void {
  if (process.env.XTABLES_LOCKFILE || process.env.FXBENCH_SHARED_XTABLES_LOCK === "1") return;
  const file = join(tmpdir(), `fxbench-xtables-${process.pid}.lock`);
  process.env.XTABLES_LOCKFILE = file;
  process.on("exit", () => {
    for (const f of [file, lockFileFor(file, 4), lockFileFor(file, 6)]) rmSync(f, { force: true });
  });
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv);
  if (!hasGc()) {
    // Memory figures need a full GC first; npm scripts cannot pass --expose-gc.
    const extra =
      o.preset.includes("xl") && !process.execArgv.some((a) => a.startsWith("--max-old-space-size"))
        ? ["--max-old-space-size=12288"]
        : [];
    const r = spawnSync(
      process.execPath,
      ["--expose-gc", ...extra, ...process.execArgv, process.argv[1], ...process.argv.slice(2)],
      {
        stdio: "inherit",
      },
    );
    process.exit(r.status ?? 1);
  }
  if (o.kernel) removeStaleNamespaces();
  isolateXtablesLock();
  let previous: unknown;
  if (o.compare) {
    previous = JSON.parse(readFileSync(o.compare, "utf8"));
    const p = previous as Partial<BenchJson>;
    process.stdout.write(
      `deltas in parentheses: against ${o.compare} (${p.date ?? "no date"}, node ${p.node ?? "?"})\n`,
    );
  }
  const json: BenchJson = {
    tool: "felix-ts bench",
    version: 1,
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? "unknown"}`,
    presets: {},
  };
  for (const preset of o.preset) {
    const r = await runPreset(preset, o);
    json.presets[preset] = r;
    printPreset(r, previous);
  }
  if (o.json) {
    writeFileSync(o.json, `${JSON.stringify(json, null, 2)}\n`);
    progress(`figures written to ${o.json}`);
  }
  if (o.e2e) {
    const r = spawnSync(process.execPath, [fileURLToPath(new URL("./e2e-once.js", import.meta.url))], {
      stdio: "inherit",
    });
    if (r.status !== 0) throw new Error(`e2e-once failed: exit ${r.status ?? r.signal}`);
  }
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
