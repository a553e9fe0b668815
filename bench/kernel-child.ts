// The kernel part of the benchmark, run by bench/run.ts inside a fresh network
// namespace (`ip netns exec <ns> node dist/bench/kernel-child.js '<job json>'`:
// node cannot enter a namespace itself). It regenerates the same synthetic
// cluster from the preset and seed, and either
//   - ours:  graph + the real dataplane (src/kernel.ts) into the empty
//            namespace, then incremental changes through both; or
//   - floor: bare `ipset restore` and `iptables-<mode>-restore --noflush` of
//            the rendered state, the least any agent has to pay.
// Progress goes to stderr; the result is the last `RESULT {json}` line on stdout.

import { execFileSync } from "node:child_process";
import { CalcGraph, type GraphConfig } from "../calc-graph/calc-graph.js";
import type { DesiredState } from "../calc-graph/desired-state.js";
import { binary, ExecIptablesBackend, LOCK_TIMEOUT_SECONDS } from "../iptables/backend.js";
import { run } from "../iptables/exec.js";
import { renderIpSets } from "../iptables/ipset.js";
import { renderTables } from "../iptables/render.js";
import type { SyncResult } from "../iptables/table-syncer.js";
import { FlockLockFile, machineLockFile, XtablesLock } from "../iptables/xtables-lock.js";
import { ipSetList } from "../model/ipset-shards.js";
import { COLD_LOADS, ColdSlots } from "../nftables/cold-load.js";
import { NFT_TABLE } from "../nftables/names.js";
import { renderedParts, renderNftTable } from "../nftables/table-text.js";
import type { ApplyResult, DataplaneOptions } from "../src/dataplane.js";
import { IdleScavenger, limitHeapGrowth } from "../src/heap.js";
import { kernelDataplane } from "../src/kernel.js";
import { createLogger } from "../src/log.js";
import { loadRuleRenderer } from "../src/rule-renderers.js";
import { Metrics } from "../status/metrics.js";
import { startAllocSampling } from "./alloc-sampling.js";
import type {
  ChildJob,
  ColdKernel,
  FamilyBytes,
  FloorResult,
  KernelKindResult,
  OursResult,
  StepTimes,
} from "./kernel-protocol.js";
import { dist } from "./measure.js";
import { nodeLinksScript } from "./node-links.js";
import { startSampleTrace, usage } from "./sample-trace.js";
import { type ChangeKind, SyntheticCluster } from "./scale.js";
import { LOCAL_NODE } from "./scale-spec.js";

const log = (msg: string) => process.stderr.write(`  [kernel-child ${process.pid}] ${msg}\n`);

const zeroSteps = (): StepTimes => ({
  ipsetsAddOrUpdate: 0,
  iptablesV4: 0,
  iptablesV6: 0,
  ipsetsRemoveStale: 0,
  routes: 0,
  sysctls: 0,
});

/**
 * The namespace as a node would have it: an underlay interface holding this
 * node's InternalIP (so remote nodes' gateways are reachable) and one up
 * `cali…` veth per local pod, as the CNI plugin makes them (the pod ends stay
 * in this namespace), so routes and sysctls are really written rather than
 * left pending.
 */
function setUpLinks(state: DesiredState): number {
  const ifaces = Object.values(state.endpoints)
    .filter((e) => e.node === LOCAL_NODE)
    .map((e) => e.iface);
  execFileSync("ip", ["-batch", "-"], { input: nodeLinksScript(ifaces), stdio: ["pipe", "ignore", "inherit"] });
  return ifaces.length;
}

/** Wraps the driver's steps to time them (the driver keeps its parts in `o`). */
function instrument(options: DataplaneOptions): { take: () => StepTimes; takeBytes: () => FamilyBytes } {
  let steps = zeroSteps();
  let bytes: FamilyBytes = { v4: 0, v6: 0 };
  const wrap = (obj: object | undefined, method: string, step: keyof StepTimes, family?: keyof FamilyBytes) => {
    if (!obj) return;
    const target = obj as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const orig = target[method].bind(obj);
    target[method] = async (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        const r = await orig(...args);
        if (family) bytes[family] += (r as SyncResult).bytesWritten;
        return r;
      } finally {
        steps[step] += performance.now() - t0;
      }
    };
  };
  wrap(options.ipsets, "addOrUpdate", "ipsetsAddOrUpdate");
  wrap(options.ipv4, "apply", "iptablesV4", "v4");
  wrap(options.ipv6, "apply", "iptablesV6", "v6");
  wrap(options.ipsets, "removeStale", "ipsetsRemoveStale");
  // nftables mode: each family's one transaction (sets and chains) in the iptables rows.
  wrap(options.nft?.ipv4, "apply", "iptablesV4", "v4");
  wrap(options.nft?.ipv6, "apply", "iptablesV6", "v6");
  wrap(options.routes, "apply", "routes");
  wrap(options.sysctls, "apply", "sysctls");
  return {
    take: () => {
      const s = steps;
      steps = zeroSteps();
      return s;
    },
    takeBytes: () => {
      const b = bytes;
      bytes = { v4: 0, v6: 0 };
      return b;
    },
  };
}

async function ours(job: ChildJob): Promise<OursResult> {
  const t0 = performance.now();
  const cluster = new SyntheticCluster(job.spec, job.seed);
  const generateMs = performance.now() - t0;

  const metrics = new Metrics();
  const fallbacks = async () => (await metrics.nftNetlinkFallbacks.get()).values[0]?.value ?? 0;
  const kernel = await kernelDataplane(
    { iptablesRefreshInterval: 0, iptablesBackend: job.backend, ipv6Support: true, logLevel: "warn" },
    job.backend,
    createLogger("warn", "json"),
    metrics,
    job.proxyMode,
    "cali",
    job.dataplane ?? "iptables",
  );
  const steps = instrument((kernel.dataplane as unknown as { o: DataplaneOptions }).o);
  try {
    // Cold start: graph, then the whole state into the empty namespace; the heap bounded as felix does (src/heap.ts).
    limitHeapGrowth(job.heapGrowthPercent);
    const g0 = performance.now();
    const graph = new CalcGraph(await graphConfig(job));
    const state = graph.apply(cluster.updates);
    const graphMs = performance.now() - g0;
    const links = setUpLinks(state);
    steps.take();
    const a0 = performance.now();
    const r = await kernel.dataplane.apply(state);
    const applyMs = performance.now() - a0;
    for (const w of r.warnings.slice(0, 3)) log(`warning: ${w}`);
    const cold: ColdKernel = {
      generateMs,
      graphMs,
      applyMs,
      totalMs: graphMs + applyMs,
      restoreMs: r.restoreMs,
      iptablesBytes: r.iptablesBytes + (r.nftBytes ?? 0),
      ipsetBytes: r.ipsetBytes,
      changes: r.changes,
      warnings: r.warnings.length,
      steps: steps.take(),
    };
    log(`cold start: graph ${graphMs.toFixed(0)} ms, apply ${applyMs.toFixed(0)} ms`);

    // Incremental: each change timed through graph and dataplane, then reverted (untimed).
    const scavenger = new IdleScavenger();
    scavenger.idle();
    const sampling = await startAllocSampling();
    const trace = startSampleTrace();
    const incremental: Partial<Record<ChangeKind, KernelKindResult>> = {};
    for (const kind of job.samples > 0 ? job.kinds : []) {
      const rows: { graphMs: number; applyMs: number; r: ApplyResult; steps: StepTimes; bytes: FamilyBytes }[] = [];
      let nftFallbacks = 0;
      for (let i = 0; i < job.warmup + job.samples; i++) {
        const change = cluster.change(kind);
        steps.take();
        steps.takeBytes();
        const u0 = usage();
        const c0 = performance.now();
        const s = graph.apply(change.forward);
        const c1 = performance.now();
        const f0 = await fallbacks();
        const res = await kernel.dataplane.apply(s);
        const c2 = performance.now();
        const u1 = usage();
        if (i >= job.warmup) nftFallbacks += (await fallbacks()) - f0;
        const st = steps.take();
        const bytes = steps.takeBytes();
        if (i >= job.warmup) rows.push({ graphMs: c1 - c0, applyMs: c2 - c1, r: res, steps: st, bytes });
        trace.sample(`${kind} #${i}`, c0, c2, c1 - c0, { ...st }, u0, u1);
        await kernel.dataplane.apply(graph.apply(change.revert));
        scavenger.idle(); // as the daemon does once its applies are done (src/daemon.ts onIdle)
      }
      const meanSteps = zeroSteps();
      for (const row of rows) {
        for (const k of Object.keys(meanSteps) as (keyof StepTimes)[]) meanSteps[k] += row.steps[k] / rows.length;
      }
      incremental[kind] = {
        samples: rows.length,
        graphMs: dist(rows.map((x) => x.graphMs)),
        applyMs: dist(rows.map((x) => x.applyMs)),
        totalMs: dist(rows.map((x) => x.graphMs + x.applyMs)),
        restoreMs: dist(rows.map((x) => x.r.restoreMs)),
        oursMs: dist(rows.map((x) => x.graphMs + x.applyMs - x.r.restoreMs)),
        iptablesBytes: dist(rows.map((x) => x.r.iptablesBytes + (x.r.nftBytes ?? 0))),
        iptablesBytesV4: dist(rows.map((x) => x.bytes.v4)),
        iptablesBytesV6: dist(rows.map((x) => x.bytes.v6)),
        ipsetBytes: dist(rows.map((x) => x.r.ipsetBytes)),
        ...(job.dataplane === "nftables" ? { nftFallbacks } : {}),
        steps: meanSteps,
      };
      log(`${kind}: total p50 ${incremental[kind]!.totalMs.p50.toFixed(1)} ms`);
      await trace.flush(log);
    }
    trace.stop();
    await sampling.stop();
    const backend = job.dataplane === "nftables" ? "nftables" : job.backend;
    return { mode: "ours", ipv6: kernel.ipv6, backend, links, cold, incremental };
  } finally {
    kernel.close();
  }
}

/** The graph as the agent configures it for the job's dataplane. */
async function graphConfig(job: ChildJob): Promise<GraphConfig> {
  return {
    nodeName: LOCAL_NODE,
    proxyMode: job.proxyMode,
    ruleRenderer: await loadRuleRenderer(job.dataplane ?? "iptables"),
  };
}

/**
 * nftables mode's floor: each family's tables of ours in one bare `nft -f` transaction (issue
 * 18's floor); then, once they are deleted, the same tables each in its own (`perTableMs`).
 */
async function nftFloor(state: DesiredState, ipv6: boolean): Promise<FloorResult> {
  const v4 = renderNftTable("ip", state.iptables.ipv4, state.ipsets, state.nftObjects);
  const v6 = ipv6 ? renderNftTable("ip6", state.iptables.ipv6, state.ipsets, state.nftObjects) : "";
  const timed = async (input: string): Promise<number> => {
    if (!input) return 0;
    const t0 = performance.now();
    const r = await run("nft", ["-f", "-"], input);
    const ms = performance.now() - t0;
    if (r.code !== 0) throw new Error(`nft -f failed: ${r.stderr.trim().slice(0, 500)}`);
    return ms;
  };
  const iptablesV4Ms = await timed(v4);
  const iptablesV6Ms = await timed(v6);
  const families = ipv6 ? (["ip", "ip6"] as const) : (["ip"] as const);
  const parts = families.flatMap((f) => {
    const t = renderedParts(f, state.iptables[f === "ip" ? "ipv4" : "ipv6"], state.ipsets, state.nftObjects);
    return t.map((p) => ({ family: f, ...p }));
  });
  // As the agent orders them: the nat tables first, `calico` last.
  parts.sort((a, b) => Number(a.table === NFT_TABLE) - Number(b.table === NFT_TABLE));
  const gone = parts.map((p) => `delete table ${p.family} ${p.table}\n`).join("");
  if ((await run("nft", ["-f", "-"], gone)).code !== 0) throw new Error("nft: deleting the floor's tables failed");
  const slots = new ColdSlots(COLD_LOADS);
  const t0 = performance.now();
  await Promise.all(parts.map((p) => slots.run(() => timed(p.text))));
  const perTableMs = performance.now() - t0;
  return {
    tableChangeMs: {},
    perTableMs,
    mode: "floor",
    ipsetMs: 0,
    iptablesV4Ms,
    iptablesV6Ms,
    totalMs: iptablesV4Ms + iptablesV6Ms,
    ipsetBytes: 0,
    iptablesBytes: Buffer.byteLength(v4) + Buffer.byteLength(v6),
  };
}

async function floor(job: ChildJob): Promise<FloorResult> {
  const cluster = new SyntheticCluster(job.spec, job.seed);
  const state = new CalcGraph(await graphConfig(job)).apply(cluster.updates);
  const ipv6 = job.ipv6 ?? true;
  if (job.dataplane === "nftables") return nftFloor(state, ipv6);
  const sets = ipSetList(state.ipsets).filter((s) => s.family === 4 || ipv6);
  const ipsetText = renderIpSets(sets);
  // Declared as the agent declares them (iptables/table-plan.ts): the floor is the fastest write.
  const v4 = renderTables(state.iptables.ipv4, { restoreOrder: true });
  const v6 = ipv6 ? renderTables(state.iptables.ipv6, { restoreOrder: true }) : "";
  const timed = async (cmd: string, args: string[], input: string): Promise<number> => {
    if (!input) return 0;
    const t0 = performance.now();
    const r = await run(cmd, args, input);
    const ms = performance.now() - t0;
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr.trim().slice(0, 500)}`);
    return ms;
  };
  // Sets first: the rules name them.
  const ipsetMs = await timed("ipset", ["restore"], ipsetText);
  const iptablesV4Ms = await timed(binary(4, job.backend, "restore"), ["--noflush"], v4);
  const iptablesV6Ms = await timed(binary(6, job.backend, "restore"), ["--noflush"], v6);
  const tableChangeMs: Record<string, number> = {};
  // Each IPv4 table, and IPv6's filter ("filter6"): a policy change rewrites both families' filter.
  const probes =
    job.tableProbes === false
      ? []
      : [...Object.keys(state.iptables.ipv4).map((t) => [t, 4] as const), ...(ipv6 ? [["filter", 6] as const] : [])];
  for (const [table, family] of probes) {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const restore = binary(family, job.backend, "restore");
      times.push(await timed(restore, ["--noflush"], `*${table}\n:cali-bench-probe - [0:0]\nCOMMIT\n`));
      await timed(restore, ["--noflush"], `*${table}\n-X cali-bench-probe\nCOMMIT\n`);
    }
    tableChangeMs[family === 4 ? table : `${table}6`] = dist(times).p50;
  }
  if (ipv6 && job.backend === "legacy" && job.tableProbes !== false) Object.assign(tableChangeMs, await bothFilters());
  return {
    tableChangeMs,
    mode: "floor",
    ipsetMs,
    iptablesV4Ms,
    iptablesV6Ms,
    totalMs: ipsetMs + iptablesV4Ms + iptablesV6Ms,
    ipsetBytes: Buffer.byteLength(ipsetText),
    iptablesBytes: Buffer.byteLength(v4) + Buffer.byteLength(v6),
  };
}

/**
 * Legacy: the smallest change to both families' filter tables, as a policy change makes it, one
 * after the other (each restore takes the xtables lock: "filters") and at once under the lock the
 * agent holds (iptables/xtables-lock.ts: "filters at once"), alternating, p50 of 7 each.
 */
async function bothFilters(): Promise<Record<string, number>> {
  const lock = new XtablesLock(new FlockLockFile(machineLockFile(), LOCK_TIMEOUT_SECONDS));
  const probe = (b: ExecIptablesBackend, what: string) => b.restore(`*filter\n${what}\nCOMMIT\n`);
  const serial = [4, 6].map((f) => new ExecIptablesBackend(f as 4 | 6, "legacy"));
  const atOnce = [4, 6].map((f) => new ExecIptablesBackend(f as 4 | 6, "legacy", lock));
  const times = { filters: [] as number[], "filters at once": [] as number[] };
  try {
    for (let i = 0; i < 7; i++) {
      let t0 = performance.now();
      for (const b of serial) await probe(b, ":cali-bench-probe - [0:0]");
      times.filters.push(performance.now() - t0);
      await Promise.all(serial.map((b) => probe(b, "-X cali-bench-probe")));
      t0 = performance.now();
      await Promise.all(atOnce.map((b) => probe(b, ":cali-bench-probe - [0:0]")));
      times["filters at once"].push(performance.now() - t0);
      await Promise.all(atOnce.map((b) => probe(b, "-X cali-bench-probe")));
    }
  } finally {
    lock.close();
  }
  return { filters: dist(times.filters).p50, "filters at once": dist(times["filters at once"]).p50 };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "") as ChildJob;
  const result = job.mode === "ours" ? await ours(job) : await floor(job);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

main().catch((e) => {
  process.stderr.write(`kernel-child: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
