// `felix demo` (options in command.ts): builds the cluster, measures, prints,
// tears down.

import { relative } from "node:path";
import { RuntimeError, UsageError } from "../cli/errors.js";
import type { DemoOptions } from "./command.js";
import { DemoCluster } from "./demo-cluster.js";
import { interactive } from "./interactive.js";
import { describeLeftovers, findLeftovers, removeLeftovers } from "./leftovers.js";
import { useColour } from "./matrix.js";
import { type Placement, placePods } from "./placement.js";
import { demoPreflight } from "./preflight.js";
import { report, secs } from "./report.js";
import { loadScenario, resolveScenario, type Scenario, ScenarioError } from "./scenario.js";

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
