// NetworkPolicy conformance, end to end, modelled on the upstream Kubernetes
// netpol e2e suite (cases and truth tables in conformance-cases.ts). Two
// namespace nodes, namespaces x/y/z × pods a/b/c (a and c on node1, b on
// node2), real TCP/UDP servers on 80 and 81, the real watching `felix` in each
// node (test/e2e/step-daemons.ts); per case step: write its policies and labels,
// wait until both nodes programmed them, probe the 9×9 matrix on the ports the
// case is about and compare with the expected table.
// Self-connections are not judged (upstream ignores loopback).
//
// Probes: 24 at a time, 400 ms timeout (successful probes here take ≤ ~40 ms;
// FELIX_E2E_PROBE_TIMEOUT_MS overrides). Two kinds of cells are re-probed before
// judging, and counted in the summary printed at the end: a cell expected open
// that timed out (once more with 2 s: a slow probe, not a verdict), and a UDP
// cell expected blocked that answered (twice more: a UDP probe whose random
// source port equals that of an allowed probe of an earlier step rides that
// flow's conntrack entry through the ESTABLISHED rule; a cell that answers all
// three times fails the case). TCP needs neither: a SYN on a closed flow's tuple
// starts a new conntrack entry. Case names carry their origin: [upstream]
// (test/e2e/network/netpol/network_policy.go), [upstream-udp] (its UDP suite),
// [cyclonus] (tags upstream lacks: end-port, multi-port, named UDP port), [brief].

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, type TestContext, test } from "node:test";
import { stringify } from "yaml";
import {
  type PortSpec,
  type ProbeResult,
  renderTruthTable,
  requirementsMissing,
  Topology,
  type TopoNode,
  type TopoPod,
} from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { TraceWorker } from "../helpers/trace-worker.js";
import { FELIX_DUMP, ManifestDir, nodeManifest, podManifest } from "./cluster.js";
import {
  ALL_PODS,
  type Check,
  type ConformanceCase,
  conformanceCases,
  expectedFor,
  type LabelChanges,
  NS_NAME_LABEL,
  portName,
  type Reachability,
  type Step,
  TCP80,
  TCP81,
  UDP80,
  UDP81,
} from "./conformance-cases.js";
import { IP_POOL, LAYOUT, NODES } from "./conformance-layout.js";
import { StepDaemons } from "./step-daemons.js";

const skip = requirementsMissing();

/** Probe timeout and concurrency (FELIX_E2E_PROBE_TIMEOUT_MS overrides the timeout). */
const PROBE_TIMEOUT_MS = Number(process.env.FELIX_E2E_PROBE_TIMEOUT_MS ?? 400);
/** FELIX_E2E_CONFORMANCE_SHARD=i/n registers only the cases whose index is i modulo n (the baseline always runs). */
const SHARD = ((text = process.env.FELIX_E2E_CONFORMANCE_SHARD ?? "0/1") => {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m || Number(m[1]) >= Number(m[2]))
    throw new Error(`FELIX_E2E_CONFORMANCE_SHARD must be i/n with i < n, not ${text}`);
  return { index: Number(m[1]), of: Number(m[2]) };
})();
const PROBE_CONCURRENCY = 24;
/** A cell expected open that timed out is probed once more with this timeout, and counted as a flake if it then answers. */
const RETRY_TIMEOUT_MS = 2000;

interface Stats {
  probeMs: number[];
  probes: number;
  maxOpenMs: number;
  flakes: string[];
  staleConntrack: string[];
  traced: number;
}

describe("NetworkPolicy conformance (upstream netpol cases, real felix, real kernel)", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let nodes: TopoNode[];
  let pods: TopoPod[];
  let clusterText = "";
  let steps: StepDaemons;
  const tracer = new TraceWorker();
  const stats: Stats = { probeMs: [], probes: 0, maxOpenMs: 0, flakes: [], staleConntrack: [], traced: 0 };
  const suiteStart = performance.now();

  /** The cluster: namespaces (label ns: <name> only), nodes, pods (label pod: <name>), an IPPool. */
  function clusterDocs(labels: LabelChanges = {}): object[] {
    const docs: object[] = [];
    for (const ns of ["x", "y", "z"]) {
      docs.push({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: ns, labels: { ns, ...labels.namespaces?.[ns] } },
      });
    }
    for (const n of nodes) docs.push(nodeManifest(n));
    for (const p of pods) docs.push(podManifest(p, labels.pods?.[p.key] ?? {}));
    docs.push(IP_POOL);
    return docs;
  }

  /** Writes a step (the cluster with its label changes, and the policies) and waits until both nodes programmed it. */
  async function program(policies: readonly object[], labels?: LabelChanges): Promise<void> {
    clusterText = clusterDocs(labels)
      .map((d) => stringify(d))
      .join("---\n");
    await steps.program([...clusterDocs(labels), ...policies]);
  }

  /**
   * What felix-dump says each node should hold: the policy chains (cali-pi-/cali-po-) and the
   * workload chains of the pods in `involved` (to-workload for servers, from-workload for clients).
   */
  async function dumpPolicyChains(involved: { clients: Set<string>; servers: Set<string> }): Promise<string> {
    const ifaces = new Set<string>();
    for (const p of pods) {
      if (involved.servers.has(p.key)) ifaces.add(`cali-tw-${p.hostIface}`);
      if (involved.clients.has(p.key)) ifaces.add(`cali-fw-${p.hostIface}`);
    }
    const parts: string[] = [];
    for (const n of nodes) {
      const out = await new Promise<string>((res) =>
        execFile(
          process.execPath,
          [FELIX_DUMP, "iptables", "--resources", dir.path, "--node-name", n.name],
          { maxBuffer: 16 << 20 },
          (err, stdout, stderr) => res(err ? `felix-dump failed: ${err.message}\n${stderr}` : stdout),
        ),
      );
      const lines = out.split("\n").filter((l) => {
        const chain = /^(?::|-A )(\S+)/.exec(l)?.[1] ?? "";
        return /^cali-p[io]-/.test(chain) || ifaces.has(chain);
      });
      parts.push(
        `# felix-dump iptables --resources <dir> --node-name ${n.name}: policy chains, and workload chains of the pods involved\n${lines.join("\n")}`,
      );
    }
    return parts.join("\n\n");
  }

  /**
   * Probes one step's ports, re-probes the two kinds of cells a probe can get wrong (see below),
   * compares with the expected tables; throws with the evidence.
   */
  async function verify(t: TestContext, c: ConformanceCase, stepNo: number, step: Step): Promise<void> {
    const ports: PortSpec[] = [];
    const expected = new Map<string, Reachability>();
    for (const check of step.checks as Check[]) {
      const r = expectedFor(check);
      for (const p of check.ports) {
        if (expected.has(portName(p))) throw new Error(`case lists ${portName(p)} twice`);
        expected.set(portName(p), r);
        ports.push(p);
      }
    }
    // The tracer over the same manifests must say what the kernel did, on every cell (`felix-dump
    // trace`'s tracer, in a worker that stays up: test/helpers/trace-worker.ts): it runs while the
    // probes wait out their timeouts, and is compared with them below.
    const cells = ALL_PODS.flatMap((cl) =>
      ALL_PODS.filter((sv) => sv !== cl).flatMap((sv) => ports.map((p) => ({ cl, sv, p }))),
    );
    const tracing = tracer.verdicts(
      dir.path,
      cells.map(({ cl, sv, p }) => ({ src: LAYOUT[cl]!.ip, dst: LAYOUT[sv]!.ip, port: p.port, protocol: p.protocol })),
    );
    tracing.catch(() => {}); // awaited below; a probe failure first must not leave it unhandled
    const m = await topo.probeMatrix(pods, ports, { concurrency: PROBE_CONCURRENCY, timeoutMs: PROBE_TIMEOUT_MS });
    stats.probeMs.push(m.ms);
    stats.probes += pods.length * pods.length * ports.length;
    const observed = new Map<string, ProbeResult>();
    const key = (cl: string, sv: string, p: PortSpec) => `${cl}>${sv}>${portName(p)}`;
    const retries: Promise<void>[] = [];
    for (const cl of ALL_PODS)
      for (const sv of ALL_PODS)
        for (const p of ports) {
          const r = m.results[cl]![sv]![portName(p)]!;
          observed.set(key(cl, sv, p), r);
          if (r.ok) stats.maxOpenMs = Math.max(stats.maxOpenMs, r.ms);
          const want = cl === sv || expected.get(portName(p))!.get(cl, sv);
          const from = pods.find((x) => x.key === cl)!;
          const to = pods.find((x) => x.key === sv)!;
          if (want && !r.ok && r.error === "timeout") {
            // Expected open but timed out: once more with a long timeout, so that a slow
            // probe is told apart from a blocked one (and counted).
            retries.push(
              topo.probeDetail(from, to, p.port, p.protocol, RETRY_TIMEOUT_MS).then((again) => {
                if (again.ok) {
                  stats.flakes.push(
                    `${c.name} step ${stepNo + 1}: ${cl} → ${sv} ${portName(p)} (${again.ms} ms on retry)`,
                  );
                  observed.set(key(cl, sv, p), again);
                }
              }),
            );
          } else if (!want && r.ok && p.protocol === "udp") {
            // Expected blocked but a UDP reply came: the probe's random source port may have
            // hit the conntrack entry of an allowed probe of an earlier step (≤30 s old), which
            // the ESTABLISHED rule accepts, as in Calico. Two more probes (new source ports)
            // decide: if either is blocked, the first was that artifact; if both connect, the
            // cell is open and the case fails.
            retries.push(
              (async () => {
                for (let k = 0; k < 2; k++) {
                  const again = await topo.probeDetail(from, to, p.port, p.protocol, PROBE_TIMEOUT_MS);
                  if (!again.ok) {
                    stats.staleConntrack.push(`${c.name} step ${stepNo + 1}: ${cl} → ${sv} ${portName(p)}`);
                    observed.set(key(cl, sv, p), again);
                    return;
                  }
                }
              })(),
            );
          }
        }
    await Promise.all(retries);

    const got = (cl: string, sv: string, p: PortSpec) => observed.get(key(cl, sv, p))!.ok;
    const want = (cl: string, sv: string, p: PortSpec) =>
      cl === sv ? got(cl, sv, p) : expected.get(portName(p))!.get(cl, sv); // loopback is not judged
    const mismatches: string[] = [];
    const involved = { clients: new Set<string>(), servers: new Set<string>() };
    for (const cl of ALL_PODS)
      for (const sv of ALL_PODS)
        for (const p of ports) {
          if (got(cl, sv, p) === want(cl, sv, p)) continue;
          const r = observed.get(key(cl, sv, p))!;
          involved.clients.add(cl);
          involved.servers.add(sv);
          mismatches.push(
            `${cl} → ${sv} ${portName(p)}: expected ${want(cl, sv, p) ? "connected" : "blocked"}, got ${
              r.ok ? `connected (${r.reply})` : `blocked (${r.error})`
            }`,
          );
        }
    const stepName = `step ${stepNo + 1}/${c.steps.length}${step.note ? ` (${step.note})` : ""}`;
    const traced = await tracing;
    stats.traced += cells.length;
    const disagree = cells
      .filter(({ cl, sv, p }, i) => (traced[i] === "allow") !== got(cl, sv, p))
      .map(
        ({ cl, sv, p }) =>
          `${cl} → ${sv} ${portName(p)}: kernel ${got(cl, sv, p) ? "connected" : "blocked"}, trace ${got(cl, sv, p) ? "deny" : "allow"}`,
      );
    assert.deepEqual(disagree, [], `${c.name}, ${stepName}: felix-dump trace disagrees with the kernel`);
    t.diagnostic(`${stepName}: ${ports.map(portName).join(", ")} probed in ${m.ms} ms`);
    if (mismatches.length === 0) return;

    const tables = (title: string, cell: (cl: string, sv: string, p: PortSpec) => boolean) =>
      ports
        .map((p) => `${title} ${portName(p)}:\n${renderTruthTable(ALL_PODS, ALL_PODS, (cl, sv) => cell(cl, sv, p))}`)
        .join("\n\n");
    const policyYaml = step.policies.length ? step.policies.map((d) => stringify(d)).join("---\n") : "(no policies)\n";
    assert.fail(
      [
        `${c.name}, ${stepName}: ${mismatches.length} cell(s) differ (loopback ignored)`,
        ...mismatches,
        "",
        tables("expected", (cl, sv, p) => (cl === sv ? true : want(cl, sv, p))),
        "",
        tables("observed", got),
        "",
        tables("comparison (. = as expected, X = differs)", (cl, sv, p) => got(cl, sv, p) === want(cl, sv, p)),
        "",
        `policies:\n${policyYaml}`,
        step.labels ? `label changes: ${JSON.stringify(step.labels)}\n` : "",
        await dumpPolicyChains(involved),
      ].join("\n"),
    );
  }

  before(async () => {
    await Topology.cleanupStale("fc");
    topo = await Topology.create({ stem: "fc", underlayCIDR: "172.31.251.0/24", gateway: "172.31.251.254" });
    const n1 = await topo.addNode(NODES[0].name, { underlayIp: NODES[0].underlayIp, podCIDR: NODES[0].podCIDR });
    const n2 = await topo.addNode(NODES[1].name, { underlayIp: NODES[1].underlayIp, podCIDR: NODES[1].podCIDR });
    nodes = [n1, n2];
    const byName = { node1: n1, node2: n2 };
    const created = await Promise.all(
      ALL_PODS.map((key) => {
        const [namespace, name] = key.split("/") as [string, string];
        const { node, ip } = LAYOUT[key]!;
        return topo.addPod(byName[node], { namespace, name, ip });
      }),
    );
    // Table order x/a, x/b, x/c, y/a, …
    pods = ALL_PODS.map((k) => created.find((p) => p.key === k)!);
    dir = new ManifestDir();
    clusterText = clusterDocs()
      .map((d) => stringify(d))
      .join("---\n");
    // Step markers: 10.66.100-249.0/24 in the pool, routed via an unused underlay address.
    steps = new StepDaemons(topo, dir, nodes, {
      markerCIDR: (n) => `10.66.${100 + (n % 150)}.0/24`,
      markerIp: "172.31.251.250",
    });
  });

  after(async () => {
    await tracer.stop();
    await steps?.stop();
    await topo?.destroy();
    dir?.destroy();
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? 0;
    console.log(
      `# conformance: ${((performance.now() - suiteStart) / 1000).toFixed(1)} s in all; ` +
        `${steps?.stepMs.length} steps programmed by the watching agents (both nodes) in ${(sum(steps?.stepMs ?? []) / 1000).toFixed(1)} s, ` +
        `median ${med(steps?.stepMs ?? []).toFixed(0)} ms; ${stats.probes} probes in ${(sum(stats.probeMs) / 1000).toFixed(1)} s ` +
        `(timeout ${PROBE_TIMEOUT_MS} ms, concurrency ${PROBE_CONCURRENCY}); slowest successful probe ${stats.maxOpenMs} ms; ` +
        `flakes (expected-open cells that timed out, then answered on a ${RETRY_TIMEOUT_MS} ms retry): ${stats.flakes.length}`,
    );
    for (const f of stats.flakes) console.log(`#   flake: ${f}`);
    console.log(
      `# UDP cells expected blocked whose first probe connected but a re-probe was blocked (stale conntrack entry): ${stats.staleConntrack.length}`,
    );
    for (const f of stats.staleConntrack) console.log(`#   stale conntrack: ${f}`);
    console.log(`# felix-dump trace agreed with the kernel on ${stats.traced} probed cells`);
  });

  test("the manifests carry no kubernetes.io/metadata.name label and include an IPPool", () => {
    assert.doesNotMatch(clusterText, new RegExp(NS_NAME_LABEL.replace(/\./g, "\\.")));
    assert.match(clusterText, /kind: IPPool/);
  });

  test("baseline: no policies (IPPool present), every pod reaches every pod on all four ports", async (t) => {
    await program([]);
    for (const output of steps.outputs()) {
      // The IPPool is ignored: never a warning or an error about it.
      const bad = output.split("\n").filter((l) => /IPPool/.test(l) && /"level":(4|5|6)0/.test(l));
      assert.deepEqual(bad, [], `IPPool caused warnings:\n${bad.join("\n")}`);
    }
    const step: Step = { policies: [], checks: [{ ports: [TCP80, TCP81, UDP80, UDP81] }] };
    await verify(t, { name: "baseline", origin: "brief", steps: [step] }, 0, step);
  });

  for (const [n, c] of conformanceCases((key) => LAYOUT[key]!.ip).entries()) {
    if (n % SHARD.of !== SHARD.index) continue;
    test(`[${c.origin}] ${c.name}`, async (t) => {
      for (const [i, step] of c.steps.entries()) {
        await program(step.policies, step.labels);
        await verify(t, c, i, step);
      }
    });
  }
});
