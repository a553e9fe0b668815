// `felix demo`: the main job in one command with no cluster. Builds a cluster of
// network namespaces, runs the real felix daemon in every node namespace on the
// scenario's manifests, and prints the reachability it measures with real
// connections. See examples/README.md for scenarios.
//
// Only the options live here: the demo itself (run-demo.ts: namespaces, YAML,
// the tracer) is imported when the subcommand runs, so that `felix` the agent,
// which registers this subcommand, does not load it at every start.

import { Command } from "commander";
import { DEFAULT_SCENARIO } from "./default-scenario.js";

export interface DemoOptions {
  scenario: string;
  nodes: string;
  keep?: boolean;
  once?: boolean;
  cleanup?: boolean;
}

export function demoCommand(): Command {
  return new Command("demo")
    .description(
      "build a small cluster out of network namespaces, run the real felix in every node and print who can reach whom",
    )
    .option(
      "--scenario <name|dir>",
      "a scenario under examples/ or a directory holding scenario.yaml",
      DEFAULT_SCENARIO,
    )
    .option("--nodes <n>", "number of nodes (at least as many as the scenario names)", "2")
    .option("--once", "print the matrix and exit (the default when not on a terminal)")
    .option("--keep", "with --once: leave the namespaces (and programmed rules) for inspection; remove with --cleanup")
    .option("--cleanup", "remove what a killed or --keep demo left behind, then exit")
    .action(async (o: DemoOptions) => (await import("./run-demo.js")).runDemo(o));
}
