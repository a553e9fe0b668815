// `felix demo`: the main job in one command with no cluster. Builds a cluster of
// network namespaces, runs the real felix daemon in every node namespace on the
// scenario's manifests, and prints the reachability it measures with real
// connections. See examples/README.md for scenarios.

import { relative } from "node:path";
import { Command } from "commander";
import { RuntimeError, UsageError } from "../cli/errors.js";
import { DemoCluster } from "./demo-cluster.js";
import { interactive } from "./interactive.js";
import { describeLeftovers, findLeftovers, removeLeftovers } from "./leftovers.js";
import { useColour } from "./matrix.js";
import { type Placement, placePods } from "./placement.js";
import { demoPreflight } from "./preflight.js";
import { report, secs } from "./report.js";
import { DEFAULT_SCENARIO, loadScenario, resolveScenario, type Scenario, ScenarioError } from "./scenario.js";

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
    .action(async (o: DemoOptions) => runDemo(o));
}

const err = (s: string) => process.stderr.write(s);

export async function runDemo(o: DemoOptions): Promise<void> {
  if (o.cleanup) {
    const problems = demoPreflight();
    if (problems.length) throw new RuntimeError(problems.join("\n"));
    const gone = await removeLeftovers();
    const what = describeLeftovers(gone);
    process.stdout.write(what ? `removed ${what}\n` : "nothing to clean up\n");
    return;
  }
  const nodes = Number(o.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw new UsageError("--nodes: a number from 1 to 9");
  let scenario: Scenario;
  let placement: Placement;
  try {
    scenario = loadScenario(resolveScenario(o.scenario));
    placement = placePods(scenario, nodes);
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.message);
    throw e;
  }
  const problems = demoPreflight();
  if (problems.length) throw new RuntimeError(problems.join("\n"));
  const left = await findLeftovers();
  if (left.namespaces.length || left.dirs.length) {
    throw new RuntimeError(
      `an earlier demo was left behind (killed?): ${describeLeftovers(left)}\nremove it with: felix demo --cleanup`,
    );
  }

  const interactiveMode = !o.once && Boolean(process.stdin.isTTY && process.stdout.isTTY);
  // Ctrl-C outside raw mode, a TERM, a closed terminal: leave nothing behind.
  const onSignal = (sig: NodeJS.Signals) => {
    for (const c of DemoCluster.active) c.teardownSync();
    process.exit(sig === "SIGINT" ? 130 : sig === "SIGHUP" ? 129 : 143);
  };
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const sig of signals) process.on(sig, onSignal);

  const t0 = performance.now();
  const where = relative(process.cwd(), scenario.dir) || ".";
  err(`felix demo: scenario ${scenario.name} (${where}): building the cluster…\n`);
  let cluster: DemoCluster;
  try {
    cluster = await DemoCluster.start(scenario, placement);
  } catch (e) {
    throw new RuntimeError(`could not start the demo: ${(e as Error).message}`);
  }
  try {
    const m = await cluster.measure();
    const n = cluster.agents.length;
    const status =
      `${n} node${n === 1 ? "" : "s"} (${cluster.agents.map((a) => a.node.name).join(", ")}), ${cluster.pods.length} pods · ` +
      `namespaces ${secs(cluster.timings.topologyMs)} · felix programmed every node in ${secs(cluster.timings.programmedMs)} · ` +
      `probes ${secs(m.probeMs)} · total ${secs(performance.now() - t0)}`;
    const text = report(scenario, m, { colour: useColour(process.stdout), status });
    if (interactiveMode) {
      await interactive(cluster, text);
    } else {
      process.stdout.write(text);
    }
    if (o.keep && !interactiveMode) {
      await cluster.keep();
      process.stdout.write(
        `\nkept for inspection (felix and the pod servers are stopped; the programmed rules stay):\n` +
          `  namespaces ${cluster.topo.prefix}-*   e.g. ip netns exec ${cluster.agents[0]!.node.netns} iptables-legacy-save\n` +
          `  manifests  ${cluster.resources}\n` +
          `remove with: felix demo --cleanup\n`,
      );
    }
  } finally {
    await cluster.teardown();
    for (const sig of signals) process.off(sig, onSignal);
  }
}
