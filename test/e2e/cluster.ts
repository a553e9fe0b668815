// Manifests for a Topology, and running the real `felix` binary in its node
// namespaces: what the e2e tests share.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { shebangNodeFlags } from "../../src/cli/node-flags.js";
import { nodeManifest, podManifest } from "../../src/netns/manifests.js";
import type { Background, PortSpec, Topology, TopoNode } from "../../src/netns/topology.js";
import { TEST_DATAPLANE } from "./dataplane-mode.js"; // FELIX_TEST_DATAPLANE: the agents' policy dataplane

// Moved to src/netns/manifests.ts (felix demo uses them too); re-exported for the tests.
export { nodeManifest, podManifest };

export const FELIX = resolve(dirname(fileURLToPath(import.meta.url)), "../../src/cli/felix.js");
/** node's arguments before felix's own: the bin's shebang flags, as users start it. */
const FELIX_ARGV = [...shebangNodeFlags(FELIX), FELIX];
export const FELIX_DUMP = resolve(dirname(fileURLToPath(import.meta.url)), "../../src/cli/felix-dump.js");

/** Pod labels `pod: <name>`, namespace labels `ns: <name>` (plus the API server's metadata.name). */
export function clusterManifests(topo: Topology, nsLabels: Record<string, Record<string, string>> = {}): string {
  const docs: object[] = [];
  const namespaces = [...new Set([...topo.pods.values()].map((p) => p.namespace))].sort();
  for (const ns of namespaces) {
    docs.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: { ns, ...nsLabels[ns] } } });
  }
  for (const n of topo.nodes.values()) docs.push(nodeManifest(n));
  for (const p of topo.pods.values()) docs.push(podManifest(p));
  return docs.map((d) => stringify(d)).join("---\n");
}

/** A scratch manifest directory, removed by `remove()`. */
export class ManifestDir {
  readonly path = mkdtempSync(join(tmpdir(), "felix-e2e-"));
  write(file: string, content: string | object[]): void {
    const text = typeof content === "string" ? content : content.map((d) => stringify(d)).join("---\n");
    writeFileSync(join(this.path, file), text);
  }
  remove(file: string): void {
    rmSync(join(this.path, file), { force: true });
  }
  destroy(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

export interface FelixRun {
  readonly code: number | string;
  readonly output: string;
}

/** Runs `felix --once` in each node namespace at the same time. */
export async function felixOnce(topo: Topology, dir: string, nodes: readonly TopoNode[], env: NodeJS.ProcessEnv = {}) {
  const runs = nodes.map((n) =>
    topo.spawn(
      n,
      process.execPath,
      [...FELIX_ARGV, "--datastore", "file", "--resources", dir, "--node-name", n.name, "--once"],
      {
        ...process.env,
        ...env,
      },
    ),
  );
  const out = await Promise.all(
    runs.map(async (b): Promise<FelixRun> => ({ code: await b.exited, output: b.output() })),
  );
  // A run that programmed anything must have done it in the dataplane under test (FELIX_TEST_DATAPLANE).
  for (const r of out) {
    const m = /"dataplane":"(iptables|nftables)"/.exec(r.output);
    if (m && m[1] !== TEST_DATAPLANE && env.FELIX_NFTABLESMODE === undefined) {
      throw new Error(`felix ran in ${m[1]} mode, not ${TEST_DATAPLANE}:\n${r.output}`);
    }
  }
  return out;
}

/** Where a node's daemon writes its endpoint status file (one directory per node and topology). */
export function statusDir(topo: Topology, node: TopoNode): string {
  return join(tmpdir(), `felix-e2e-status-${topo.prefix}-${node.name}`);
}

/** Starts the watching daemon in a node namespace. */
export function felixDaemon(topo: Topology, dir: string, node: TopoNode, env: NodeJS.ProcessEnv = {}): Background {
  return topo.spawn(
    node,
    process.execPath,
    [...FELIX_ARGV, "--resources", dir, "--node-name", node.name, "--log-format", "json"],
    {
      ...process.env,
      FELIX_IPTABLESREFRESHINTERVAL: "1",
      FELIX_ENDPOINTSTATUSPATHPREFIX: statusDir(topo, node),
      ...env,
    },
  );
}

/**
 * Waits until `check` holds, polling; returns the time it took, or throws with the last failure. The
 * default deadline (30 s, as StepDaemons' steps) is for a loaded machine: an agent started under a load
 * of 20 on two cores took over 10 s to print its first line; a wait that holds returns as soon as it does.
 */
export async function eventually<T>(
  check: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  let last: T | undefined;
  for (;;) {
    last = await check();
    if (ok(last)) return { value: last, ms: performance.now() - t0 };
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`not reached in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits until the daemons have programmed what `check` sees; a timeout shows the first daemon's last output. */
export async function daemonsReady<T>(
  daemons: readonly Background[],
  check: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 30_000,
): Promise<void> {
  await eventually(check, ok, timeoutMs).catch((e: Error) => {
    throw new Error(`${e.message}\nnode1 daemon:\n${daemons[0]?.output().slice(-4000)}`);
  });
}

/** Stops the daemons, then removes their status directories, the topology and the manifests (any may be missing after a failed set-up). */
export async function stopDaemons(
  daemons: readonly Background[],
  topo: Topology | undefined,
  nodes: readonly (TopoNode | undefined)[],
  dir: ManifestDir | undefined,
): Promise<void> {
  for (const d of daemons) await d.kill();
  for (const n of nodes) if (topo && n) rmSync(statusDir(topo, n), { recursive: true, force: true });
  await topo?.destroy();
  dir?.destroy();
}

export const TCP80: PortSpec = { port: 80, protocol: "tcp" };
export const TCP81: PortSpec = { port: 81, protocol: "tcp" };
export const UDP80: PortSpec = { port: 80, protocol: "udp" };
export const UDP81: PortSpec = { port: 81, protocol: "udp" };
