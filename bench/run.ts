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

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError, Option } from "commander";
import { CalcGraph, type GraphConfig } from "../calc-graph/calc-graph.js";
import { PROXY_MODES, type ProxyMode } from "../calc-graph/services/model.js";
import type { IptablesMode } from "../iptables/backend.js";
import { lockFileFor } from "../iptables/xtables-lock.js";
import type { Kind } from "../model/resource.js";
import { NFT_RULES } from "../nftables/render.js";
import { DEFAULT_HEAP_GROWTH_PERCENT, limitHeapGrowth } from "../src/heap.js";
import { runNodeInNetns } from "../src/netns/node-child.js";
import { type AgentFigures, type AgentOptions, fileDatastoreRuns, kubernetesRuns } from "./agent.js";
import { renderAgentTable } from "./agent-report.js";
import type { ChildJob, ChildResult, FloorResult, KernelKindResult, OursResult } from "./kernel-protocol.js";
import {
  type Dist,
  dist,
  evaluations,
  hasGc,
  type KindResult,
  type Mem,
  memory,
  type StateSize,
  sampleGraph,
  stateSize,
} from "./measure.js";
import {
  CHANGE_KINDS,
  type ChangeKind,
  isPresetName,
  LOCAL_NODE,
  PRESETS,
  type PresetName,
  type ScaleSpec,
  SyntheticCluster,
} from "./scale.js";

// ─── options ─────────────────────────────────────────────────────────────────

const PHASES = ["agent", "kubernetes", "cold", "incremental", "memory", "throughput"] as const;
type Phase = (typeof PHASES)[number];

interface Options {
  preset: PresetName[];
  seed: number;
  samples: number;
  kernelSamples?: number;
  warmup: number;
  changes: number;
  batch: number;
  json?: string;
  compare?: string;
  kernel?: boolean;
  e2e?: boolean;
  backend: IptablesMode;
  dataplane: "iptables" | "nftables";
  proxyMode: ProxyMode;
  only: Phase[];
  kinds: ChangeKind[];
  breakdown: boolean;
  heapGrowthPercent: number;
  agentSamples: number;
  onceRuns: number;
  churn: number;
}

const positiveInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`);
  return n;
};

function parseArgs(argv: string[]): Options {
  const program = new Command()
    .name("bench")
    .description("felix-ts benchmarks at cluster scale (synthetic clusters, deterministic from a seed)")
    .addOption(
      new Option("--preset <names>", "presets to run, comma-separated: small, large, xl")
        .default(["small"], "small")
        .argParser((v) =>
          v.split(",").map((p) => {
            const name = p.trim();
            if (!isPresetName(name)) throw new InvalidArgumentError(`unknown preset ${JSON.stringify(name)}`);
            return name;
          }),
        ),
    )
    .option("--seed <n>", "PRNG seed of the synthetic cluster", positiveInt("--seed"), 1)
    .option("--samples <n>", "incremental samples per kind of change", positiveInt("--samples"), 50)
    .option(
      "--kernel-samples <n>",
      "incremental samples per kind with --kernel (default: --samples)",
      positiveInt("--kernel-samples"),
    )
    .option("--warmup <n>", "untimed warm-up changes per kind", positiveInt("--warmup"), 3)
    .option("--changes <n>", "random changes for the throughput and memory runs", positiveInt("--changes"), 10_000)
    .option("--batch <n>", "changes per graph.apply in the throughput run", positiveInt("--batch"), 100)
    .option("--json <file>", "write the figures as JSON")
    .option("--compare <file>", "show deltas against an earlier --json output")
    .option("--kernel", "also program a real kernel (root): in throwaway network namespaces")
    .option("--e2e", "also time the real `felix --once` on a two-node namespace cluster (root; bench/e2e-once.ts)")
    .addOption(
      new Option("--backend <mode>", "iptables backend for --kernel").choices(["legacy", "nft"]).default("legacy"),
    )
    .addOption(
      new Option("--dataplane <dataplane>", "policy dataplane of --kernel and the agent runs (FELIX_NFTABLESMODE)")
        .choices(["iptables", "nftables"])
        .default("iptables"),
    )
    .addOption(
      new Option("--proxy-mode <mode>", "FELIX_PROXYMODE of the graph: the services are programmed unless off")
        .choices([...PROXY_MODES])
        .default("iptables"),
    )
    .addOption(
      new Option("--only <phases>", `phases to run, comma-separated: ${PHASES.join(", ")}`)
        .default([...PHASES], PHASES.join(","))
        .argParser((v) =>
          v.split(",").map((p) => {
            const name = p.trim() as Phase;
            if (!PHASES.includes(name)) throw new InvalidArgumentError(`unknown phase ${JSON.stringify(name)}`);
            return name;
          }),
        ),
    )
    .addOption(
      new Option("--kinds <kinds>", `kinds of change to sample, comma-separated: ${CHANGE_KINDS.join(", ")}`)
        .default([...CHANGE_KINDS], "all")
        .argParser((v) =>
          v.split(",").map((p) => {
            const name = p.trim() as ChangeKind;
            if (!CHANGE_KINDS.includes(name)) throw new InvalidArgumentError(`unknown kind ${JSON.stringify(name)}`);
            return name;
          }),
        ),
    )
    .option(
      "--agent-samples <n>",
      "per kind of change, samples through the real felix daemon",
      positiveInt("--agent-samples"),
      20,
    )
    .option("--once-runs <n>", "cold felix --once runs (median and best reported)", positiveInt("--once-runs"), 1)
    .option(
      "--churn <n>",
      "random changes through the real daemon before its RSS is read again",
      positiveInt("--churn"),
      1000,
    )
    .option("--no-breakdown", "do not time convert+index and flush apart on the second cold-start graph")
    .option(
      "--heap-growth-percent <n>",
      "V8 heap growth past the live heap, as the daemon's FELIX_HEAPGROWTHPERCENT (0: V8's default)",
      positiveInt("--heap-growth-percent"),
      DEFAULT_HEAP_GROWTH_PERCENT,
    )
    .showHelpAfterError();
  program.parse(argv);
  return program.opts<Options>();
}

// ─── results ─────────────────────────────────────────────────────────────────

interface KernelCold {
  readonly backend: IptablesMode | "nftables";
  readonly ipv6: boolean;
  readonly links: number;
  readonly ours: OursResult["cold"];
  readonly floor: FloorResult;
  /** (graph + dataplane.apply) / floor, dataplane.apply / floor, and restoreMs / floor. */
  readonly totalOverFloor: number;
  readonly applyOverFloor: number;
  readonly restoreOverFloor: number;
}

interface PresetResult {
  agent?:
    | { figures: AgentFigures; floorMs?: number; backend: string; tableChangeMs?: Record<string, number> }
    | { skipped: string };
  readonly preset: PresetName;
  readonly seed: number;
  readonly proxyMode?: ProxyMode;
  readonly heapGrowthPercent?: number;
  readonly spec: ScaleSpec;
  readonly inputs: { updates: number; byKind: Partial<Record<Kind, number>>; generateMs: number };
  cold?: {
    graphMs: number;
    breakdown?: { convertIndexMs: number; flushMs: number };
    state: StateSize;
    evaluations: number;
    chainsRendered: number;
    kernel?: KernelCold | { skipped: string };
  };
  incremental?: {
    samples: number;
    warmup: number;
    kinds: Partial<Record<ChangeKind, KindResult & { kernel?: KernelKindResult }>>;
  };
  memory?: {
    inputs: Mem;
    afterColdStart: Mem;
    afterChanges?: Mem;
    changes?: number;
    /** Heap held by the graph: after cold start, after the changes, and a fresh graph of that final state. */
    graphHeapMB: { afterColdStart: number; afterChanges?: number; freshOfFinalState?: number };
  };
  throughput?: {
    changes: number;
    batch: number;
    updates: number;
    seconds: number;
    updatesPerSec: number;
    batchMs: Dist;
  };
}

interface BenchJson {
  readonly tool: "felix-ts bench";
  readonly version: 1;
  readonly date: string;
  readonly node: string;
  readonly cpu: string;
  readonly presets: Partial<Record<PresetName, PresetResult>>;
}

// ─── kernel runs in throwaway namespaces ─────────────────────────────────────

const NETNS_PREFIX = "fxbench";
const liveNamespaces = new Set<string>();

function deleteNetns(name: string): void {
  spawnSync("ip", ["netns", "del", name], { stdio: "ignore" });
  liveNamespaces.delete(name);
}

function createNetns(): string {
  const name = `${NETNS_PREFIX}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const r = spawnSync("ip", ["netns", "add", name], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip netns add ${name} failed: ${r.stderr?.trim() || r.error?.message}`);
  liveNamespaces.add(name);
  return name;
}

/** Removes namespaces left by benchmark runs that were killed. */
function removeStaleNamespaces(): void {
  const r = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  for (const line of (r.stdout ?? "").split("\n")) {
    const name = line.split(" ")[0];
    const m = new RegExp(`^${NETNS_PREFIX}-(\\d+)-`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = pid === process.pid;
    if (!alive) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch {
        alive = false;
      }
    }
    if (!alive) deleteNetns(name);
  }
}

process.on("exit", () => {
  for (const ns of [...liveNamespaces]) deleteNetns(ns);
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    for (const ns of [...liveNamespaces]) deleteNetns(ns);
    process.exit(130);
  });
}

function kernelSkipReason(backend: IptablesMode): string | undefined {
  if (process.platform !== "linux") return `needs Linux (platform is ${process.platform})`;
  if (process.getuid?.() !== 0) return "needs root (network namespaces, iptables, ipset)";
  for (const [cmd, args] of [
    ["ip", ["-V"]],
    ["ipset", ["version"]],
    [`iptables-${backend}-restore`, ["--version"]],
  ] as const) {
    const r = spawnSync(cmd, args, { stdio: "ignore" });
    if (r.error || r.status !== 0) return `needs ${cmd}`;
  }
  return undefined;
}

const CHILD_SCRIPT = fileURLToPath(new URL("./kernel-child.js", import.meta.url));

async function runChild(ns: string, job: ChildJob, timeoutMs = 30 * 60_000): Promise<ChildResult> {
  // A profiled run (`node --cpu-prof … run.js`) profiles the kernel child too: that is where the dataplane runs.
  // FXBENCH_KERNEL_NODE_ARGS adds node flags to it (space-separated), as FXBENCH_FELIX_NODE_ARGS to felix.
  const nodeArgs = [
    ...process.execArgv.filter((a) => a.startsWith("--cpu-prof")),
    ...(process.env.FXBENCH_KERNEL_NODE_ARGS ?? "").split(" ").filter(Boolean),
  ];
  const r = await runNodeInNetns(ns, CHILD_SCRIPT, {
    args: [JSON.stringify(job)],
    nodeArgs,
    timeoutMs,
    inheritStderr: true,
  });
  if (r.code !== 0 || r.result === undefined) {
    throw new Error(`kernel child (${job.mode}) failed: exit ${r.code ?? r.signal}`);
  }
  return r.result as ChildResult;
}

async function kernelRun(
  spec: ScaleSpec,
  o: Options,
  withIncremental: boolean,
): Promise<{ cold: KernelCold; incremental: OursResult["incremental"] }> {
  const base = {
    spec,
    seed: o.seed,
    backend: o.backend,
    dataplane: o.dataplane,
    proxyMode: o.proxyMode,
    heapGrowthPercent: o.heapGrowthPercent,
    warmup: o.warmup,
    kinds: o.kinds,
  };
  const nsOurs = createNetns();
  let ours: OursResult;
  try {
    const samples = withIncremental ? (o.kernelSamples ?? o.samples) : 0;
    ours = (await runChild(nsOurs, { ...base, mode: "ours", samples })) as OursResult;
  } finally {
    deleteNetns(nsOurs);
  }
  const nsFloor = createNetns();
  let floor: FloorResult;
  try {
    floor = (await runChild(nsFloor, { ...base, mode: "floor", samples: 0, ipv6: ours.ipv6 })) as FloorResult;
  } finally {
    deleteNetns(nsFloor);
  }
  return {
    cold: {
      backend: ours.backend,
      ipv6: ours.ipv6,
      links: ours.links,
      ours: ours.cold,
      floor,
      totalOverFloor: ours.cold.totalMs / floor.totalMs,
      applyOverFloor: ours.cold.applyMs / floor.totalMs,
      restoreOverFloor: ours.cold.restoreMs / floor.totalMs,
    },
    incremental: ours.incremental,
  };
}

/** The real felix process over the file and Kubernetes datastores, and the floor, each in fresh namespaces. */
async function agentPhases(preset: PresetName, o: Options): Promise<PresetResult["agent"]> {
  const skip = kernelSkipReason(o.backend) ?? (spawnSync("python3", ["-V"]).status === 0 ? undefined : "needs python3");
  if (skip) return { skipped: skip };
  const spec = PRESETS[preset];
  const netns = { create: createNetns, remove: deleteNetns };
  const ao: AgentOptions = {
    backend: o.backend,
    dataplane: o.dataplane,
    proxyMode: o.proxyMode,
    samples: o.agentSamples,
    onceRuns: o.onceRuns,
    kinds: o.kinds,
    churn: o.churn,
    kubernetes: o.only.includes("kubernetes"),
  };
  const make = () => new SyntheticCluster(spec, o.seed);
  progress(`${preset}: the real agent (file datastore)`);
  let figures: AgentFigures = { files: 0, bytes: 0 };
  if (o.only.includes("agent")) figures = await fileDatastoreRuns(make, netns, ao);
  if (ao.kubernetes) {
    progress(`${preset}: the real agent (Kubernetes datastore, fake API server)`);
    figures = { ...figures, kubernetes: await kubernetesRuns(make, netns, ao) };
  }
  const nsFloor = createNetns();
  try {
    const base = {
      spec,
      seed: o.seed,
      backend: o.backend,
      dataplane: o.dataplane,
      proxyMode: o.proxyMode,
      warmup: 0,
      kinds: [],
    };
    const job = { ...base, heapGrowthPercent: o.heapGrowthPercent, mode: "floor" as const, samples: 0, ipv6: true };
    const floor = (await runChild(nsFloor, job)) as FloorResult;
    const backend = o.dataplane === "nftables" ? "nftables" : o.backend;
    return { figures, floorMs: floor.totalMs, backend, tableChangeMs: floor.tableChangeMs };
  } finally {
    deleteNetns(nsFloor);
  }
}

// ─── one preset ──────────────────────────────────────────────────────────────

const progress = (msg: string) => process.stderr.write(`· ${msg}\n`);

async function runPreset(preset: PresetName, o: Options): Promise<PresetResult> {
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

/**
 * Does the graph hold more after the changes than a graph built from scratch
 * on the same final state? Called once `graphPhases` has returned, so its
 * graph is garbage; the fresh one is garbage again when this returns.
 */
function freshGraphHeap(
  o: Options,
  cluster: SyntheticCluster,
  memChanged: Mem,
  into: NonNullable<PresetResult["memory"]>["graphHeapMB"],
): void {
  const current = cluster.currentUpdates();
  const memNone = memory();
  const fresh = new CalcGraph(graphConfig(o));
  fresh.apply(current);
  const memFresh = memory();
  into.afterChanges = memChanged.heapUsedMB - memNone.heapUsedMB;
  into.freshOfFinalState = memFresh.heapUsedMB - memNone.heapUsedMB;
}

// kube-proxy's nftables layout exists only as nft rules.
const graphConfig = (o: Options): GraphConfig => ({
  nodeName: LOCAL_NODE,
  proxyMode: o.proxyMode,
  ...(o.proxyMode === "nftables" ? { ruleRenderer: NFT_RULES } : {}),
});

/**
 * The timed cold start, `new CalcGraph(...).apply(all updates)`, on a graph
 * of its own that is garbage on return (with its snapshot). No
 * forced GC precedes it, as none precedes the daemon's first snapshot: a
 * full collection shrinks V8's young generation, and growing it back cost
 * the cold start ~150 ms at large.
 */
function coldStart(o: Options, cluster: SyntheticCluster): NonNullable<PresetResult["cold"]> {
  const t0 = performance.now();
  const graph = new CalcGraph(graphConfig(o));
  const state = graph.apply(cluster.updates);
  const graphMs = performance.now() - t0;
  return {
    graphMs,
    state: stateSize(state),
    evaluations: evaluations(graph),
    chainsRendered: graph.builder.stats.chainsRendered,
  };
}

/** The same work as apply(), split and timed, on a second graph: the one the later phases use. */
function coldBreakdown(o: Options, cluster: SyntheticCluster, timed: boolean) {
  const graph = new CalcGraph(graphConfig(o));
  const b0 = performance.now();
  for (const u of cluster.updates) graph.converter.apply(u);
  const b1 = performance.now();
  graph.builder.flush();
  const breakdown = timed ? { convertIndexMs: b1 - b0, flushMs: performance.now() - b1 } : undefined;
  return { graph, breakdown };
}

/**
 * Cold start, incremental samples and the burst of random changes on one
 * graph, which lives only in this frame. Returns the memory after the changes
 * (with the graph alive), when they ran.
 */
function graphPhases(cluster: SyntheticCluster, o: Options, result: PresetResult): Mem | undefined {
  const phases = new Set(o.only);
  const preset = result.preset;
  // The agent's heap setting, from its start on (src/heap.ts; no kernel here).
  limitHeapGrowth(o.heapGrowthPercent);
  result.cold = coldStart(o, cluster);
  progress(`${preset}: cold start ${result.cold.graphMs.toFixed(0)} ms`);
  // The inputs alone, now that the timed graph is garbage; then a second graph carries on.
  const memInputs = memory();
  const { graph, breakdown } = coldBreakdown(o, cluster, o.breakdown && phases.has("cold"));
  result.cold.breakdown = breakdown;
  const memCold = memory();
  result.memory = {
    inputs: memInputs,
    afterColdStart: memCold,
    graphHeapMB: { afterColdStart: memCold.heapUsedMB - memInputs.heapUsedMB },
  };

  // Incremental, render only.
  if (phases.has("incremental")) {
    result.incremental = { samples: o.samples, warmup: o.warmup, kinds: {} };
    for (const kind of o.kinds) {
      result.incremental.kinds[kind] = sampleGraph(cluster, graph, kind, o.samples, o.warmup);
    }
    progress(`${preset}: incremental done`);
  }

  // Throughput: a burst of random changes, committed, in batches; then memory.
  if (phases.has("throughput") || phases.has("memory")) {
    const changes: ReturnType<SyntheticCluster["randomChange"]>[] = [];
    for (let i = 0; i < o.changes; i++) changes.push(cluster.randomChange());
    const batches: (typeof changes)[number][] = [];
    const size = Math.max(1, o.batch);
    for (let i = 0; i < changes.length; i += size) batches.push(changes.slice(i, i + size).flat());
    changes.length = 0;
    const batchMs: number[] = [];
    let updates = 0;
    for (const b of batches) {
      const s0 = performance.now();
      graph.apply(b);
      batchMs.push(performance.now() - s0);
      updates += b.length;
    }
    const seconds = batchMs.reduce((s, x) => s + x, 0) / 1000;
    batches.length = 0;
    if (phases.has("throughput")) {
      result.throughput = {
        changes: o.changes,
        batch: size,
        updates,
        seconds,
        updatesPerSec: updates / seconds,
        batchMs: dist(batchMs),
      };
    }
    const memChanged = memory();
    result.memory!.afterChanges = memChanged;
    result.memory!.changes = o.changes;
    progress(`${preset}: ${o.changes} random changes in ${seconds.toFixed(2)} s`);
    return memChanged;
  }
  return undefined;
}

// ─── printing ────────────────────────────────────────────────────────────────

type Cell = string | { v: number | undefined; path?: string; d?: number; suffix?: string };

function get(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function fmt(v: number | undefined, d = 1): string {
  if (v === undefined || Number.isNaN(v)) return "–";
  return v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

class Table {
  private readonly rows: Cell[][] = [];
  constructor(
    private readonly headers: string[],
    private readonly base: string,
    private readonly previous: unknown,
  ) {}
  row(...cells: Cell[]): this {
    this.rows.push(cells);
    return this;
  }
  private text(c: Cell): string {
    if (typeof c === "string") return c;
    let s = fmt(c.v, c.d ?? 1) + (c.suffix ?? "");
    if (this.previous !== undefined && c.path && c.v !== undefined) {
      const prev = get(this.previous, `${this.base}.${c.path}`);
      if (typeof prev === "number" && Number.isFinite(prev)) {
        if (prev === 0) s += c.v === 0 ? " (=)" : " (new)";
        else {
          const pct = ((c.v - prev) / Math.abs(prev)) * 100;
          s += Math.abs(pct) < 0.5 ? " (=)" : ` (${pct > 0 ? "+" : ""}${pct.toFixed(0)}%)`;
        }
      }
    }
    return s;
  }
  render(indent = "  "): string {
    const cells = [this.headers, ...this.rows.map((r) => r.map((c) => this.text(c)))];
    const widths = this.headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
    return cells
      .map((r) => indent + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  "))
      .join("\n");
  }
}

const n0 = (v: number | undefined, path?: string): Cell => ({ v, path, d: 0 });
const ms = (v: number | undefined, path?: string, d = 1): Cell => ({ v, path, d });

const heapGrowth = (p: number | undefined) => (p ? `${p}%` : "V8 default");

function printPreset(r: PresetResult, previous: unknown): void {
  const s = r.spec;
  const base = `presets.${r.preset}`;
  const out: string[] = [];
  const ag = r.agent;
  const agentTable =
    ag && !("skipped" in ag) ? renderAgentTable(r.preset, ag.figures, ag.floorMs, ag.backend, ag.tableChangeMs) : "";
  out.push(
    `\n== ${r.preset} (seed ${r.seed}, proxy mode ${r.proxyMode ?? "off"}, heap growth ${heapGrowth(r.heapGrowthPercent)}): ${fmt(s.pods, 0)} pods (${s.localPods} on node-0), ${s.nodes} nodes, ` +
      `${s.namespaces} namespaces, ${fmt(s.serviceAccounts, 0)} service accounts, ${fmt(s.policies, 0)} policies, ` +
      `${fmt(s.services, 0)} services × ${s.endpointsPerService} endpoints ==`,
  );
  out.push(
    `inputs: ${fmt(r.inputs.updates, 0)} updates (${Object.entries(r.inputs.byKind)
      .map(([k, n]) => `${fmt(n, 0)} ${k}`)
      .join(", ")}), generated in ${fmt(r.inputs.generateMs, 0)} ms`,
  );

  if (agentTable) out.push(agentTable);
  else if (ag && "skipped" in ag) out.push(`\nend to end: skipped (${ag.skipped})`);
  if (r.cold) {
    out.push("\nbreakdown: the calculation graph fed in memory");
    const c = r.cold;
    out.push("\ncold start");
    const t = new Table(["", "ms"], base, previous);
    t.row("graph: new CalcGraph().apply(all updates)", ms(c.graphMs, "cold.graphMs"));
    if (c.breakdown) {
      t.row(
        "  convert + index (converter.apply × updates)",
        ms(c.breakdown.convertIndexMs, "cold.breakdown.convertIndexMs"),
      );
      t.row("  flush (builder.flush: render + immer)", ms(c.breakdown.flushMs, "cold.breakdown.flushMs"));
    }
    const k = c.kernel;
    if (k && "skipped" in k) t.row(`kernel: skipped (${k.skipped})`, "");
    else if (k) {
      const fam = k.ipv6 ? "IPv4+IPv6" : "IPv4";
      t.row(`kernel (${k.backend}, ${fam}): graph + dataplane.apply`, ms(k.ours.totalMs, "cold.kernel.ours.totalMs"));
      t.row("  graph (in the child)", ms(k.ours.graphMs, "cold.kernel.ours.graphMs"));
      t.row("  dataplane.apply", ms(k.ours.applyMs, "cold.kernel.ours.applyMs"));
      t.row("    ipsets add/update", ms(k.ours.steps.ipsetsAddOrUpdate, "cold.kernel.ours.steps.ipsetsAddOrUpdate"));
      t.row("    iptables IPv4", ms(k.ours.steps.iptablesV4, "cold.kernel.ours.steps.iptablesV4"));
      t.row("    iptables IPv6", ms(k.ours.steps.iptablesV6, "cold.kernel.ours.steps.iptablesV6"));
      t.row("    ipsets remove stale", ms(k.ours.steps.ipsetsRemoveStale, "cold.kernel.ours.steps.ipsetsRemoveStale"));
      t.row(`    routes`, ms(k.ours.steps.routes, "cold.kernel.ours.steps.routes"));
      t.row(`    sysctls (${k.links} cali links)`, ms(k.ours.steps.sysctls, "cold.kernel.ours.steps.sysctls"));
      t.row("  inside restores (ApplyResult.restoreMs)", ms(k.ours.restoreMs, "cold.kernel.ours.restoreMs"));
      t.row("  floor: bare ipset restore", ms(k.floor.ipsetMs, "cold.kernel.floor.ipsetMs"));
      const nft = k.backend === "nftables";
      t.row(
        nft ? "  floor: bare nft -f (ip table)" : `  floor: bare iptables-${k.backend}-restore --noflush v4`,
        ms(k.floor.iptablesV4Ms, "cold.kernel.floor.iptablesV4Ms"),
      );
      t.row(
        nft ? "  floor: bare nft -f (ip6 table)" : `  floor: bare ip6tables-${k.backend}-restore --noflush v6`,
        ms(k.floor.iptablesV6Ms, "cold.kernel.floor.iptablesV6Ms"),
      );
      t.row("  floor total", ms(k.floor.totalMs, "cold.kernel.floor.totalMs"));
      t.row("  ours/floor: graph + dataplane.apply ÷ floor", {
        v: k.totalOverFloor,
        path: "cold.kernel.totalOverFloor",
        d: 2,
        suffix: "×",
      });
      t.row("  ours/floor: dataplane.apply ÷ floor", {
        v: k.applyOverFloor,
        path: "cold.kernel.applyOverFloor",
        d: 2,
        suffix: "×",
      });
      t.row("  ours/floor: restoreMs ÷ floor", {
        v: k.restoreOverFloor,
        path: "cold.kernel.restoreOverFloor",
        d: 2,
        suffix: "×",
      });
      t.row(
        "  bytes written: iptables (ours / floor)",
        `${fmt(k.ours.iptablesBytes, 0)} / ${fmt(k.floor.iptablesBytes, 0)}`,
      );
      t.row("  bytes written: ipset (ours / floor)", `${fmt(k.ours.ipsetBytes, 0)} / ${fmt(k.floor.ipsetBytes, 0)}`);
      if (k.ours.warnings) t.row("  dataplane warnings", n0(k.ours.warnings));
    }
    out.push(t.render());
    const st = c.state;
    out.push(
      `  desired state: ${fmt(st.chains, 0)} chains / ${fmt(st.rules, 0)} rules (both families), ${fmt(st.ipsets, 0)} IP sets / ` +
        `${fmt(st.ipsetMembers, 0)} members, ${st.endpoints} local endpoints, ${fmt(st.routes, 0)} routes, ` +
        `${fmt(st.sysctls, 0)} sysctls, ${st.problems} problems; ${fmt(c.evaluations, 0)} selector evaluations, ` +
        `${fmt(c.chainsRendered, 0)} chain renders`,
    );
  }

  if (r.incremental) {
    const inc = r.incremental;
    const withKernel = Object.values(inc.kinds).some((k) => k?.kernel);
    out.push(
      `\nincremental: graph.apply([change]) in ms, ${inc.samples} samples per kind after ${inc.warmup} warm-up, ` +
        "each reverted before the next; Δ = objects changed by reference (p50, max)" +
        (withKernel ? "; kernel = graph + dataplane.apply" : ""),
    );
    const headers = ["change", "graph p50", "graph p99", "chains Δ", "ipsets Δ", "evals p50"];
    if (withKernel)
      headers.push(
        "kernel p50",
        "kernel p99",
        "restore p50",
        "excl. restore p50",
        "excl. restore p99",
        "ipt bytes p50",
        "v4 p50",
        "v6 p50",
        "ipset bytes p50",
      );
    const t = new Table(headers, base, previous);
    for (const kind of CHANGE_KINDS) {
      const k = inc.kinds[kind];
      if (!k) continue;
      const p = `incremental.kinds.${kind}`;
      const row: Cell[] = [
        kind,
        ms(k.graphMs.p50, `${p}.graphMs.p50`, 2),
        ms(k.graphMs.p99, `${p}.graphMs.p99`, 2),
        `${k.chainsChanged.p50} (${k.chainsChanged.max})`,
        `${k.ipsetsChanged.p50} (${k.ipsetsChanged.max})`,
        n0(k.evaluations.p50, `${p}.evaluations.p50`),
      ];
      if (withKernel) {
        const kk = k.kernel;
        row.push(
          ms(kk?.totalMs.p50, `${p}.kernel.totalMs.p50`),
          ms(kk?.totalMs.p99, `${p}.kernel.totalMs.p99`),
          ms(kk?.restoreMs.p50, `${p}.kernel.restoreMs.p50`),
          ms(kk?.oursMs?.p50, `${p}.kernel.oursMs.p50`),
          ms(kk?.oursMs?.p99, `${p}.kernel.oursMs.p99`),
          n0(kk?.iptablesBytes.p50, `${p}.kernel.iptablesBytes.p50`),
          n0(kk?.iptablesBytesV4?.p50, `${p}.kernel.iptablesBytesV4.p50`),
          n0(kk?.iptablesBytesV6?.p50, `${p}.kernel.iptablesBytesV6.p50`),
          n0(kk?.ipsetBytes.p50, `${p}.kernel.ipsetBytes.p50`),
        );
      }
      t.row(...row);
    }
    out.push(t.render());
    const fallbacks = CHANGE_KINDS.filter((k) => inc.kinds[k]?.kernel?.nftFallbacks !== undefined);
    if (fallbacks.length) {
      const f = fallbacks.map((k) => `${k} ${inc.kinds[k]?.kernel?.nftFallbacks}/${inc.kinds[k]?.kernel?.samples}`);
      out.push(`  nftables changes written with nft -f (netlink writer fallbacks): ${f.join(", ")}`);
    }
    if (withKernel) {
      out.push("  kernel: mean ms per dataplane step");
      const st = new Table(["change", "ipsets", "ipt v4", "ipt v6", "stale sets", "routes", "sysctls"], base, previous);
      for (const kind of CHANGE_KINDS) {
        const kk = inc.kinds[kind]?.kernel;
        if (!kk) continue;
        const sp = `incremental.kinds.${kind}.kernel.steps`;
        st.row(
          kind,
          ms(kk.steps.ipsetsAddOrUpdate, `${sp}.ipsetsAddOrUpdate`),
          ms(kk.steps.iptablesV4, `${sp}.iptablesV4`),
          ms(kk.steps.iptablesV6, `${sp}.iptablesV6`),
          ms(kk.steps.ipsetsRemoveStale, `${sp}.ipsetsRemoveStale`),
          ms(kk.steps.routes, `${sp}.routes`),
          ms(kk.steps.sysctls, `${sp}.sysctls`),
        );
      }
      out.push(st.render());
    }
  }

  if (r.memory) {
    const m = r.memory;
    out.push(`\nmemory (after global.gc)`);
    const t = new Table(["", "RSS MB", "heap used MB"], base, previous);
    t.row(
      "inputs generated, without a graph",
      ms(m.inputs.rssMB, "memory.inputs.rssMB"),
      ms(m.inputs.heapUsedMB, "memory.inputs.heapUsedMB"),
    );
    t.row(
      "after cold start",
      ms(m.afterColdStart.rssMB, "memory.afterColdStart.rssMB"),
      ms(m.afterColdStart.heapUsedMB, "memory.afterColdStart.heapUsedMB"),
    );
    if (m.afterChanges) {
      t.row(
        `after ${fmt(m.changes, 0)} random changes`,
        ms(m.afterChanges.rssMB, "memory.afterChanges.rssMB"),
        ms(m.afterChanges.heapUsedMB, "memory.afterChanges.heapUsedMB"),
      );
    }
    const gh = m.graphHeapMB;
    t.row("graph's heap after cold start", "", ms(gh.afterColdStart, "memory.graphHeapMB.afterColdStart"));
    if (gh.afterChanges !== undefined) {
      t.row("graph's heap after the changes", "", ms(gh.afterChanges, "memory.graphHeapMB.afterChanges"));
      t.row(
        "  a fresh graph of that same final state",
        "",
        ms(gh.freshOfFinalState, "memory.graphHeapMB.freshOfFinalState"),
      );
    }
    out.push(t.render());
  }

  if (r.throughput) {
    const tp = r.throughput;
    out.push(`\nthroughput: ${fmt(tp.changes, 0)} random changes in batches of ${tp.batch} (graph.apply per batch)`);
    const t = new Table(["updates/s", "total s", "batch p50 ms", "batch p99 ms", "batch max ms"], base, previous);
    t.row(
      n0(tp.updatesPerSec, "throughput.updatesPerSec"),
      ms(tp.seconds, "throughput.seconds", 2),
      ms(tp.batchMs.p50, "throughput.batchMs.p50", 2),
      ms(tp.batchMs.p99, "throughput.batchMs.p99", 2),
      ms(tp.batchMs.max, "throughput.batchMs.max", 2),
    );
    out.push(t.render());
  }
  process.stdout.write(`${out.join("\n")}\n`);
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
