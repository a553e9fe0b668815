// Interactive felix demo: the scenario directory is watched in place (the files
// you know, e.g. examples/default-deny/), and every change to its manifests is
// copied into the agents' temp directory; once every agent has applied it, the
// matrix is measured again and reprinted. scenario.yaml (which pods exist) is
// not applied live: that would rebuild the cluster, so the demo says to restart.
// Keys: q or Ctrl-C quit (everything is torn down), r measures again.

import { type FSWatcher, statSync, watch } from "node:fs";
import { join } from "node:path";
import type { DemoCluster } from "./demo-cluster.js";
import { report, secs } from "./report.js";
import { SCENARIO_FILE } from "./scenario.js";

export async function interactive(c: DemoCluster, first: string): Promise<void> {
  const out = process.stdout;
  const clear = "\x1b[2J\x1b[H";
  const footer = (note = "") =>
    `\n${note ? `${note}\n` : ""}\x1b[2mwatching ${c.scenario.dir}: edit or add a policy there and the matrix follows · r measure again · q quit\x1b[0m\n`;

  const scenarioMtime = () => {
    try {
      return statSync(join(c.scenario.dir, SCENARIO_FILE)).mtimeMs;
    } catch {
      return 0;
    }
  };
  const podsMtime = scenarioMtime();
  let busy: Promise<void> = Promise.resolve();
  let pending = false;
  let quitting = false;

  const remeasure = (force: boolean) => {
    if (pending) return;
    pending = true;
    busy = busy
      .then(async () => {
        pending = false;
        if (quitting) return;
        const t0 = performance.now();
        const before = c.applyCounts();
        const changed = await c.syncManifests();
        if (!changed && !force) {
          if (scenarioMtime() !== podsMtime)
            out.write(`\n${SCENARIO_FILE} changed: restart felix demo to rebuild the pods (q to quit)\n`);
          return;
        }
        out.write("\nmeasuring…\n");
        // Up to 10 s: on a loaded machine an apply can take seconds, and a matrix measured before it is wrong.
        const applied = changed ? await c.waitProgrammed(before, 10_000) : true;
        const t1 = performance.now();
        const m = await c.measure();
        if (quitting) return;
        const dead = c.agents.filter((a) => a.exited).map((a) => `felix on ${a.node.name} exited:\n${a.tail()}`);
        const applyNote = applied ? "" : " (an agent did not report an apply in time)";
        const status =
          `re-measured ${secs(performance.now() - t0)} after the change: ` +
          `felix applied it in ${secs(t1 - t0)}${applyNote}, probes ${secs(performance.now() - t1)}`;
        const problems = c.agents.flatMap((a) => a.problems.slice(-3));
        const note = [...dead, ...problems.map((p) => `agent: ${p}`)].join("\n");
        out.write(clear + report(c.scenario, m, { colour: true, status }) + footer(note));
      })
      .catch((e: Error) => {
        if (!quitting) out.write(`\nmeasuring failed: ${e.message}\n`);
      });
  };

  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  let watchNote = "";
  try {
    watcher = watch(c.scenario.dir, { recursive: true }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => remeasure(false), 100);
    });
  } catch (e) {
    watchNote = `cannot watch ${c.scenario.dir}: ${(e as Error).message} (r measures again)`;
  }
  // Watching before the footer says so, and one look for edits made while the
  // first matrix was measured: an edit right after the footer is never missed.
  out.write(clear + first + footer(watchNote));
  remeasure(false);

  await new Promise<void>((resolve) => {
    const stdin = process.stdin;
    stdin.setRawMode?.(true);
    stdin.resume();
    stdin.setEncoding("utf8");
    const onKey = (k: string) => {
      if (k === "q" || k === "Q" || k === "\x03" || k === "\x04") {
        quitting = true;
        stdin.off("data", onKey);
        stdin.setRawMode?.(false);
        stdin.pause();
        resolve();
      } else if (k === "r" || k === "R") remeasure(true);
    };
    stdin.on("data", onKey);
  });
  clearTimeout(timer);
  watcher?.close();
  out.write("\ntearing down…\n");
  await busy.catch(() => {});
}
