// The bench runner's command line (bench/run.ts): presets, phases, kinds of
// change, sample counts and the --kernel / agent knobs, parsed by commander.

import { Command, InvalidArgumentError, Option } from "commander";
import { PROXY_MODES, type ProxyMode } from "../calc-graph/services/model.js";
import type { IptablesMode } from "../iptables/backend.js";
import { DEFAULT_HEAP_GROWTH_PERCENT } from "../src/heap.js";
import { CHANGE_KINDS, type ChangeKind } from "./scale.js";
import { isPresetName, type PresetName } from "./scale-spec.js";

export const PHASES = ["agent", "kubernetes", "cold", "incremental", "memory", "throughput"] as const;
export type Phase = (typeof PHASES)[number];

export interface RunOptions {
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

/** A comma-separated list of known names (commander's argParser); an unknown one is an error naming it. */
const listOf =
  <T extends string>(what: string, known: (s: string) => s is T) =>
  (v: string): T[] =>
    v.split(",").map((p) => {
      const name = p.trim();
      if (!known(name)) throw new InvalidArgumentError(`unknown ${what} ${JSON.stringify(name)}`);
      return name;
    });

export function parseArgs(argv: string[]): RunOptions {
  const program = new Command()
    .name("bench")
    .description("felix-ts benchmarks at cluster scale (synthetic clusters, deterministic from a seed)")
    .addOption(
      new Option("--preset <names>", "presets to run, comma-separated: small, large, xl")
        .default(["small"], "small")
        .argParser(listOf("preset", isPresetName)),
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
        .argParser(listOf("phase", (s): s is Phase => PHASES.includes(s as Phase))),
    )
    .addOption(
      new Option("--kinds <kinds>", `kinds of change to sample, comma-separated: ${CHANGE_KINDS.join(", ")}`)
        .default([...CHANGE_KINDS], "all")
        .argParser(listOf("kind", (s): s is ChangeKind => CHANGE_KINDS.includes(s as ChangeKind))),
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
  return program.opts<RunOptions>();
}
