// The product path, timed: the real `felix` process, in a fresh network
// namespace set up as a node (an underlay holding node-0's InternalIP, one up
// `cali…` veth per local pod), fed the synthetic cluster
//   - as a manifest directory (the file datastore): `felix --once` cold, from
//     spawn (node start-up included) to exit; then the daemon: cold to its
//     first "dataplane programmed", and per change, from the file write to the
//     log line of the apply that programmed it (pino's `time`, same clock);
//   - from the fake API server in the same namespace (the Kubernetes
//     datastore): LIST → programmed, and per change from the write that
//     sends the WATCH event to the programmed line.
// Peak RSS: the kernel's VmHWM of the felix process (ru_maxrss for --once).
// FXBENCH_FELIX_LOG=<file> keeps the daemons' log lines; FXBENCH_WRITE=in-place
// writes manifests in place instead of temp file + rename; FXBENCH_FELIX_NODE_ARGS
// (space-separated) adds node flags, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`;
// FXBENCH_AGENT_SAMPLES=<file> appends each timed change (kind, write and programmed
// times) as a JSON line, to match with the log (gc-log-preload.ts) by time.
// The felix process itself (spawn, log lines, /proc) is in agent-process.ts.

import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { vethNameForWorkload } from "../calc-graph/conversion/pod.js";
import { run } from "../iptables/exec.js";
import type { KubeObject } from "../model/k8s.js";
import { type ResourceUpdate, resourceKey } from "../model/resource.js";
import { DEFAULT_DEBOUNCE_MS } from "../src/datastore/file-datastore.js";
import { kubeconfigFor } from "../test/helpers/kubeconfig.js";
import { RemoteApiServer } from "../test/helpers/remote-apiserver.js";
import { Agent, type AgentMemory, type FelixRunOptions, once } from "./agent-process.js";
import { ManifestDir } from "./manifest-dir.js";
import { type Dist, dist } from "./measure.js";
import { nodeLinksScript } from "./node-links.js";
import { progress } from "./progress.js";
import type { ChangeKind, SyntheticCluster } from "./scale.js";
import { LOCAL_NODE } from "./scale-spec.js";

/** What the runs are given: how felix runs (agent-process.ts), then what to sample. */
export interface AgentOptions extends FelixRunOptions {
  readonly samples: number;
  readonly kinds: readonly ChangeKind[];
  /** Cold `--once` runs, each in a fresh namespace (the machine is shared: the median and the best are reported). */
  readonly onceRuns: number;
  /** Random changes before the daemon's RSS is read again. */
  readonly churn: number;
  readonly kubernetes: boolean;
  /** Told the daemon's memory once programmed and after the churn. */
  readonly onMemory?: (stage: "cold" | "churned", m: AgentMemory) => void;
}

export interface DaemonFigures {
  /** Spawn → first programmed. */
  readonly coldMs: number;
  readonly rssColdMB: number;
  /** VmHWM when the first snapshot is programmed. */
  readonly hwmColdMB?: number;
  readonly kinds: Partial<Record<ChangeKind, Dist>>;
  /** Of each change's latency, the dataplane apply (the rest: datastore, graph, logging). */
  readonly applyKinds: Partial<Record<ChangeKind, Dist>>;
  readonly churn: number;
  /** The agent's own CPU (/proc) per sampled write (change or revert), ms: what load hides in latencies. */
  readonly cpuMsPerWrite?: number;
  readonly rssAfterChurnMB: number;
  readonly peakRssMB: number;
}

export interface AgentFigures {
  readonly files: number;
  readonly bytes: number;
  /** Median of `runs` (and the best); the highest peak RSS. */
  readonly once?: { ms: number; minMs?: number; runs?: number; peakRssMB: number; cpuS?: number; exit: number | null };
  readonly daemon?: DaemonFigures;
  /** `listMs`: the cluster's LIST alone (bench/list-time.ts), which the cold start's target allows for. */
  readonly kubernetes?: DaemonFigures & { createMs: number; listMs?: number };
}

export interface Netns {
  create(): string;
  remove(name: string): void;
}

/** The node's links: the underlay and a veth per local pod, as the CNI plugin leaves them. */
export async function setUpLinks(ns: string, cluster: SyntheticCluster): Promise<void> {
  const ifaces: string[] = [];
  for (const u of cluster.updates) {
    const pod = u.value as { spec?: { nodeName?: string } } | null;
    if (u.kind === "Pod" && pod?.spec?.nodeName === LOCAL_NODE) ifaces.push(vethNameForWorkload(u.namespace, u.name));
  }
  const r = await run("ip", ["-n", ns, "-batch", "-"], nodeLinksScript(ifaces));
  if (r.code !== 0) throw new Error(`ip -n ${ns} -batch -: ${r.stderr.trim()}`);
}

/** Idle time between one sample's revert being programmed and the next sample's write. */
export const SAMPLE_GAP_MS = 2 * DEFAULT_DEBOUNCE_MS;

/** Writes a change through `write`, timed from the write to the programmed line; the revert is untimed. */
async function sampleChanges(
  agent: Agent,
  cluster: SyntheticCluster,
  o: AgentOptions,
  write: (u: readonly ResourceUpdate[]) => Promise<number>,
): Promise<Pick<DaemonFigures, "kinds" | "applyKinds" | "churn" | "rssAfterChurnMB" | "cpuMsPerWrite">> {
  const kinds: Partial<Record<ChangeKind, Dist>> = {};
  const applyKinds: Partial<Record<ChangeKind, Dist>> = {};
  const cpu0 = agent.rss().cpuS;
  let writes = 0;
  for (const kind of o.samples > 0 ? o.kinds : []) {
    const ms: number[] = [];
    const apply: number[] = [];
    for (let i = 0; i < o.samples + 1; i++) {
      const change = cluster.change(kind);
      const t0 = await write(change.forward);
      const t1 = await agent.programmed(t0);
      if (i > 0) {
        ms.push(t1 - t0); // the first is a warm-up
        apply.push(agent.applyMs.get(t1) ?? Number.NaN);
        const out = process.env.FXBENCH_AGENT_SAMPLES;
        if (out)
          appendFileSync(out, `${JSON.stringify({ kind, i, written: t0, programmed: t1, applyMs: apply.at(-1) })}\n`);
      }
      await agent.programmed(await write(change.revert));
      writes += 2;
      // The next sample is a change of its own, not the tail of this revert's burst: events within
      // the quiet period of the last ones are one burst, and the file datastore cuts only a burst's
      // first write short (burst-timer.ts), so a write 1 ms after the revert was programmed waited the
      // whole quiet period (p50s of 15 or 32 ms, run to run). Users' lone changes are not that close.
      await sleep(SAMPLE_GAP_MS);
    }
    kinds[kind] = dist(ms);
    applyKinds[kind] = dist(apply);
    progress(
      `  ${kind}: p50 ${kinds[kind]!.p50.toFixed(0)} ms, max ${kinds[kind]!.max.toFixed(0)} ms; VmHWM ${agent.rss().hwmMB.toFixed(0)} MB`,
    );
  }
  const cpuMsPerWrite = writes > 0 ? ((agent.rss().cpuS - cpu0) * 1000) / writes : undefined;
  if (cpuMsPerWrite !== undefined) progress(`  agent CPU per write: ${cpuMsPerWrite.toFixed(1)} ms`);
  // Churn: random changes committed, ten per write, each burst programmed before the next.
  for (let i = 0; i < o.churn; i += 10) {
    const burst: ResourceUpdate[] = [];
    for (let j = 0; j < 10; j++) burst.push(...cluster.randomChange());
    await agent.programmed(await write(burst));
  }
  const m = agent.rss();
  o.onMemory?.("churned", m);
  return { kinds, applyKinds, churn: o.churn, rssAfterChurnMB: m.rssMB, cpuMsPerWrite };
}

async function daemonRun(
  agent: Agent,
  cluster: SyntheticCluster,
  o: AgentOptions,
  write: (u: readonly ResourceUpdate[]) => Promise<number>,
): Promise<DaemonFigures> {
  const first = await agent.programmed(0, 30 * 60_000);
  const coldMs = first - agent.t0;
  const m = agent.rss();
  o.onMemory?.("cold", m);
  const { rssMB: rssColdMB, hwmMB: hwmColdMB } = m;
  progress(
    `  daemon programmed in ${coldMs.toFixed(0)} ms, RSS ${rssColdMB.toFixed(0)} MB, VmHWM ${hwmColdMB.toFixed(0)} MB`,
  );
  const changes = await sampleChanges(agent, cluster, o, write);
  return { coldMs, rssColdMB, hwmColdMB, ...changes, peakRssMB: agent.rss().hwmMB };
}

/** The file datastore: --once, then the daemon. */
export async function fileDatastoreRuns(
  makeCluster: () => SyntheticCluster,
  netns: Netns,
  o: AgentOptions,
): Promise<AgentFigures> {
  const cluster = makeCluster();
  const dir = mkdtempSync(join(tmpdir(), "fxbench-manifests-"));
  try {
    const mdir = new ManifestDir(dir, cluster.updates);
    progress(`manifest directory: ${mdir.fileCount} files, ${(mdir.bytes / 1e6).toFixed(1)} MB`);
    const runs: NonNullable<AgentFigures["once"]>[] = [];
    for (let i = 0; i < Math.max(1, o.onceRuns); i++) {
      const nsOnce = netns.create();
      try {
        await setUpLinks(nsOnce, cluster);
        const r = await once(nsOnce, dir, o);
        runs.push(r);
        progress(`felix --once: ${r.ms.toFixed(0)} ms, peak RSS ${r.peakRssMB.toFixed(0)} MB`);
      } finally {
        netns.remove(nsOnce);
      }
    }
    const times = dist(runs.map((r) => r.ms)); // p50: the median
    const onceFig: AgentFigures["once"] = {
      ms: times.p50,
      minMs: Math.min(...runs.map((r) => r.ms)),
      runs: runs.length,
      peakRssMB: Math.max(...runs.map((r) => r.peakRssMB)),
      cpuS: dist(runs.map((r) => r.cpuS ?? Number.NaN)).p50,
      exit: runs.find((r) => r.exit !== 0)?.exit ?? 0,
    };
    const ns = netns.create();
    try {
      await setUpLinks(ns, cluster);
      const agent = new Agent(ns, ["--datastore", "file", "--resources", dir, "--node-name", LOCAL_NODE], o);
      try {
        const write = async (u: readonly ResourceUpdate[]) => {
          const files = mdir.prepare(u);
          const t0 = Date.now();
          mdir.commit(files, process.env.FXBENCH_WRITE === "in-place");
          return t0;
        };
        const daemon = await daemonRun(agent, cluster, o, write);
        return { files: mdir.fileCount, bytes: mdir.bytes, once: onceFig, daemon };
      } finally {
        await agent.stop();
      }
    } finally {
      netns.remove(ns);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The time to LIST the whole cluster from the node's namespace (bench/list-time.ts), ms; NaN if it failed. */
async function listTime(ns: string, kubeconfig: string): Promise<number> {
  const script = fileURLToPath(new URL("./list-time.js", import.meta.url));
  const r = await run("ip", ["netns", "exec", ns, process.execPath, script, kubeconfig], "");
  if (r.code !== 0) progress(`list-time failed: ${r.stderr.trim().slice(-300)}`);
  return r.code === 0 ? (JSON.parse(r.stdout) as { ms: number }).ms : Number.NaN;
}

/** The Kubernetes datastore against the fake API server, in the node's namespace. */
export async function kubernetesRuns(
  makeCluster: () => SyntheticCluster,
  netns: Netns,
  o: AgentOptions,
): Promise<NonNullable<AgentFigures["kubernetes"]>> {
  const cluster = makeCluster();
  const ns = netns.create();
  const work = mkdtempSync(join(tmpdir(), "fxbench-kube-"));
  try {
    await setUpLinks(ns, cluster);
    const api = new RemoteApiServer(ns, "127.0.0.1");
    await api.ready;
    try {
      const live = new Set<string>();
      const write = async (updates: readonly ResourceUpdate[]) => {
        const calls: Promise<unknown>[] = [];
        const t0 = Date.now();
        for (const u of updates) {
          const key = resourceKey(u);
          if (!u.value) {
            if (live.delete(key)) calls.push(api.delete(u.kind, u.namespace || undefined, u.name));
          } else {
            calls.push(live.has(key) ? api.update(u.value) : api.create(u.value as KubeObject));
            live.add(key);
          }
        }
        await Promise.all(calls);
        return t0;
      };
      const c0 = performance.now();
      for (let i = 0; i < cluster.updates.length; i += 500) await write(cluster.updates.slice(i, i + 500));
      const createMs = performance.now() - c0;
      const kubeconfig = kubeconfigFor({ url: api.url }, { dir: work });
      const listMs = await listTime(ns, kubeconfig);
      progress(`  LIST of the cluster alone: ${listMs.toFixed(0)} ms`);
      const agent = new Agent(
        ns,
        ["--datastore", "kubernetes", "--kubeconfig", kubeconfig, "--node-name", LOCAL_NODE],
        o,
      );
      try {
        return { createMs, listMs, ...(await daemonRun(agent, cluster, o, write)) };
      } finally {
        await agent.stop();
      }
    } finally {
      await api.close();
    }
  } finally {
    netns.remove(ns);
    rmSync(work, { recursive: true, force: true });
  }
}
