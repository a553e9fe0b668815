// The demo cluster: network namespaces from src/netns/topology.ts (nodes on an
// underlay, pods wired as Calico's CNI does, a TCP/UDP server in every pod), the
// scenario's manifests in a temp directory, and the real felix daemon in every
// node namespace watching that directory.
//
// Temp directory (removed on teardown): <tmpdir>/felix-demo-<prefix>/
//   resources/cluster.yaml      Namespaces, Nodes and Pods (with their IPs), generated
//   resources/scenario/…        copies of the scenario's own manifests (policies, Services, …)
//   resources/endpointslices.yaml  EndpointSlices for the Services' selectors, generated (services.ts)
//   status/<node>/              each agent's endpoint status file
// The agents read only resources/; the scenario directory is watched in place and
// copied over on every change (see interactive.ts).

import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { stringify } from "yaml";
import { listManifestFiles, readManifestDir } from "../datastore/manifests.js";
import { nodeManifest, podManifest } from "../netns/manifests.js";
import { Topology, type TopoNode, type TopoPod } from "../netns/topology.js";
import { Agent, statusDirFor } from "./agents.js";
import { Explainer } from "./explain.js";
import type { Reachability, ServiceCells } from "./matrix.js";
import type { Placement } from "./placement.js";
import { SCENARIO_FILE, type Scenario } from "./scenario.js";
import {
  classifyService,
  type DemoPod,
  endpointSlicesFor,
  explainServiceCell,
  SERVICE_PROBES,
  type ServiceColumn,
  type ServiceOutcome,
  serviceColumns,
} from "./services.js";

/** Namespace-name stem of every demo (prefix = stem + 4 hex digits). */
export const DEMO_STEM = "demo";
export const TEMP_PREFIX = "felix-demo-";

export interface Measurement extends Reachability {
  /** One line per blocked cell: which policy decides it. */
  readonly explanations: readonly string[];
  /** Problems with the input (the graph's and the agents'). */
  readonly problems: readonly string[];
  /** One line per service column (what it probes) and per Service that has none (why). */
  readonly serviceNotes: readonly string[];
  readonly probeMs: number;
}

export interface Timings {
  topologyMs: number;
  programmedMs: number;
}

export class DemoCluster {
  readonly resources: string;
  readonly pods: TopoPod[] = [];
  /** The placed pods as their manifests show them, for EndpointSlices. */
  readonly demoPods: DemoPod[] = [];
  readonly agents: Agent[] = [];
  readonly timings: Timings = { topologyMs: 0, programmedMs: 0 };
  private torn = false;
  /** Clusters not yet torn down, for signal handlers. */
  static readonly active = new Set<DemoCluster>();

  private constructor(
    readonly scenario: Scenario,
    readonly topo: Topology,
    readonly root: string,
  ) {
    this.resources = join(root, "resources");
    DemoCluster.active.add(this);
  }

  /** Builds everything and waits until every agent has programmed its node. */
  static async start(scenario: Scenario, placement: Placement): Promise<DemoCluster> {
    const topo = await Topology.create({ stem: DEMO_STEM });
    const root = join(tmpdir(), `${TEMP_PREFIX}${topo.prefix}`);
    const c = new DemoCluster(scenario, topo, root);
    try {
      await c.build(placement);
    } catch (e) {
      await c.teardown();
      throw e;
    }
    return c;
  }

  private async build(placement: Placement): Promise<void> {
    const t0 = performance.now();
    const s = this.scenario;
    const nodes = new Map<string, TopoNode>();
    for (const n of placement.nodes) nodes.set(n.name, await this.topo.addNode(n.name, n));
    const servers = {
      tcp: s.probe.filter((p) => p.protocol === "tcp").map((p) => p.port),
      udp: s.probe.filter((p) => p.protocol === "udp").map((p) => p.port),
    };
    const docs: object[] = [];
    for (const [ns, labels] of Object.entries(s.namespaces).sort()) {
      docs.push({
        apiVersion: "v1",
        kind: "Namespace",
        // The API server adds kubernetes.io/metadata.name; so do we.
        metadata: { name: ns, labels: { ...labels, "kubernetes.io/metadata.name": ns } },
      });
    }
    for (const node of nodes.values()) docs.push(nodeManifest(node));
    // Pods are created in parallel; the manifest keeps the scenario's order.
    const created = await Promise.all(
      placement.pods.map(({ pod: p, node, ip }) =>
        this.topo.addPod(nodes.get(node)!, {
          namespace: p.namespace,
          name: p.name,
          ip,
          servers,
          labels: { ...p.labels },
        }),
      ),
    );
    for (const [i, pod] of created.entries()) {
      const declared = placement.pods[i]!.pod.ports;
      this.pods.push(pod);
      this.demoPods.push({
        namespace: pod.namespace,
        name: pod.name,
        ip: pod.ip,
        node: pod.node.name,
        labels: { pod: pod.name, ...pod.labels },
        ports: declared,
      });
      docs.push(
        podManifest(
          pod,
          {},
          declared.map((x) => ({ ...(x.name ? { name: x.name } : {}), containerPort: x.port, protocol: x.protocol })),
        ),
      );
    }
    this.timings.topologyMs = performance.now() - t0;

    mkdirSync(this.resources, { recursive: true });
    writeFileSync(
      join(this.resources, "cluster.yaml"),
      `# Generated by felix demo from ${join(s.dir, SCENARIO_FILE)}\n${docs.map((d) => stringify(d)).join("---\n")}`,
    );
    await this.syncManifests();

    const t1 = performance.now();
    for (const node of nodes.values()) {
      mkdirSync(statusDirFor(this.root, node), { recursive: true });
      this.agents.push(new Agent(this.topo, node, this.resources, statusDirFor(this.root, node)));
    }
    await this.waitProgrammed(
      this.agents.map(() => 0),
      30_000,
      true,
    );
    this.timings.programmedMs = performance.now() - t1;
  }

  /** Apply counts now, to wait for the next round with waitProgrammed(). */
  applyCounts(): number[] {
    return this.agents.map((a) => a.applies);
  }

  /**
   * Waits until every agent has applied once more than `before`; with `strict`, an agent
   * that does not (or exited) is an error, else the deadline just ends the wait.
   */
  async waitProgrammed(before: readonly number[], timeoutMs: number, strict = false): Promise<boolean> {
    const ok = await Promise.all(this.agents.map((a, i) => a.waitForApply(before[i] ?? 0, timeoutMs)));
    const bad = this.agents.filter((_, i) => !ok[i]);
    if (strict && bad.length) {
      const a = bad[0]!;
      throw new Error(
        `felix on ${a.node.name} ${a.exited ? "exited" : `did not program the node within ${timeoutMs / 1000} s`}:\n${a.tail()}`,
      );
    }
    return bad.length === 0;
  }

  /**
   * Mirrors the scenario's manifests (every *.yaml/*.yml/*.json but scenario.yaml)
   * into resources/scenario/, each file replaced by a rename so an agent never
   * reads half a file. Returns whether anything changed.
   */
  async syncManifests(): Promise<boolean> {
    const dst = join(this.resources, "scenario");
    mkdirSync(dst, { recursive: true });
    const wanted = new Set<string>();
    let changed = false;
    for (const file of await listManifestFiles(this.scenario.dir)) {
      const rel = relative(this.scenario.dir, file);
      if (rel === SCENARIO_FILE) continue;
      wanted.add(rel);
      const target = join(dst, rel);
      let same = false;
      try {
        const a = statSync(file);
        const b = statSync(target);
        same = a.size === b.size && a.mtimeMs <= b.mtimeMs;
      } catch {}
      if (same) continue;
      mkdirSync(dirname(target), { recursive: true });
      const tmp = join(dirname(target), `.${process.pid}.tmp`);
      copyFileSync(file, tmp);
      renameSync(tmp, target);
      changed = true;
    }
    for (const file of await listManifestFiles(dst)) {
      if (!wanted.has(relative(dst, file))) {
        rmSync(file, { force: true });
        changed = true;
      }
    }
    return (await this.writeEndpointSlices()) || changed;
  }

  /** resources/endpointslices.yaml for the Services now in resources/scenario/; whether it changed. */
  private async writeEndpointSlices(): Promise<boolean> {
    const { updates } = await readManifestDir(join(this.resources, "scenario"));
    const slices = updates
      .filter((u) => u.kind === "Service" && u.value)
      .flatMap((u) => endpointSlicesFor(u.value!, this.demoPods));
    const file = join(this.resources, "endpointslices.yaml");
    const text = slices.length
      ? `# Generated by felix demo: what the EndpointSlice controller would write for the scenario's Services\n${slices.map((d) => stringify(d)).join("---\n")}`
      : "# Generated by felix demo: the scenario has no Service with a selector\n";
    let old = "";
    try {
      old = readFileSync(file, "utf8");
    } catch {}
    if (old === text) return false;
    const tmp = join(this.resources, `.${process.pid}.slices.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, file);
    return true;
  }

  /**
   * Connections from `client` to a service column's ClusterIP. One round settles
   * the cell only when every backend answered; otherwise a second round, so a
   * policy that allows some backends shows as ~ unless 2×SERVICE_PROBES random
   * picks all hit the same side.
   */
  private async probeService(client: TopoPod, col: ServiceColumn, timeoutMs: number): Promise<ServiceOutcome> {
    const round = () =>
      Promise.all(
        Array.from({ length: SERVICE_PROBES }, () =>
          this.topo.probeDetail(client, col.clusterIP, col.port.port, col.port.protocol, timeoutMs),
        ),
      );
    const first = await round();
    const o = classifyService(first, col.backends);
    if (o.cell === "." && col.backends.every((b) => o.answeredBy.includes(b))) return o;
    return classifyService([...first, ...(await round())], col.backends);
  }

  /** Real connections from every pod to every pod on every probed port, and why the blocked ones are. */
  async measure(timeoutMs = 400): Promise<Measurement> {
    const t0 = performance.now();
    const m = await this.topo.probeMatrix(this.pods, this.scenario.probe, { timeoutMs, concurrency: 32 });
    const ports = this.scenario.probe;
    const key = (p: { port: number; protocol: string }) => `${p.protocol}/${p.port}`;
    // A blocked cell is probed once more: one lost first packet should not flip a cell.
    const retry = [];
    for (const c of m.clients)
      for (const s of m.servers) for (const p of ports) if (!m.results[c]![s]![key(p)]!.ok) retry.push({ c, s, p });
    const ok = new Set<string>();
    await Promise.all(
      retry.map(async ({ c, s, p }) => {
        const r = await this.topo.probeDetail(
          this.topo.pods.get(c)!,
          this.topo.pods.get(s)!,
          p.port,
          p.protocol,
          timeoutMs,
        );
        if (r.ok) ok.add(`${c} ${s} ${key(p)}`);
      }),
    );
    const connected = (c: string, s: string, p: { port: number; protocol: string }) =>
      (m.results[c]?.[s]?.[key(p)]?.ok ?? false) || ok.has(`${c} ${s} ${key(p)}`);

    const parsed = await readManifestDir(this.resources);
    const svc = serviceColumns(
      parsed.updates.filter((u) => u.kind === "Service" && u.value).map((u) => u.value!),
      this.demoPods,
      ports,
    );
    const outcomes = new Map<string, ServiceOutcome>();
    const cells = svc.columns.flatMap((col) => this.pods.map((client) => ({ col, client })));
    // A few cells at a time: each is SERVICE_PROBES connections at once.
    for (let i = 0; i < cells.length; i += 6) {
      await Promise.all(
        cells.slice(i, i + 6).map(async ({ col, client }) => {
          outcomes.set(`${col.label} ${client.key}`, await this.probeService(client, col, timeoutMs));
        }),
      );
    }
    const outcome = (col: ServiceColumn, client: string) => outcomes.get(`${col.label} ${client}`)!;
    const services: ServiceCells[] = svc.columns.map((col) => ({
      label: col.label,
      block: col.block,
      cell: (client) => outcomes.get(`${col.label} ${client}`)?.cell ?? "X",
    }));

    const explainer = new Explainer(
      parsed.updates,
      this.agents.map((a) => a.node.name),
    );
    const explanations: string[] = [];
    for (const p of ports) {
      for (const s of m.servers)
        for (const c of m.clients) if (!connected(c, s, p)) explanations.push(explainer.explainBlocked(c, s, p));
      for (const col of svc.columns.filter((x) => x.block.port === p.port && x.block.protocol === p.protocol))
        for (const c of m.clients)
          if (outcome(col, c).cell !== ".")
            explanations.push(explainServiceCell(col, c, outcome(col, c), (a, b, q) => explainer.denial(a, b, q)));
    }
    const serviceNotes = [
      ...svc.columns.map(
        (c) =>
          `${c.label} = ClusterIP ${c.clusterIP}:${c.port.port}/${c.port.protocol} → ${
            c.backends.length ? c.backends.join(", ") : "no endpoints"
          } on ${c.block.protocol}/${c.block.port}`,
      ),
      ...svc.notes,
    ];
    const problems = [
      ...parsed.problems.map((p) => `${this.shownPath(p.file)}${p.line ? `:${p.line}` : ""}: ${p.message}`),
      ...explainer.problems((f) => this.shownPath(f)),
    ];
    return {
      clients: m.clients,
      servers: m.servers,
      ports,
      connected,
      services,
      explanations,
      problems,
      serviceNotes,
      probeMs: Math.round(performance.now() - t0),
    };
  }

  /** A manifest path as the user knows it: the scenario's file rather than its copy. */
  shownPath(file: string): string {
    const copies = join(this.resources, "scenario");
    const abs = resolve(file);
    const rel = relative(copies, abs);
    const real = rel.startsWith("..") ? abs : join(this.scenario.dir, rel);
    const fromCwd = relative(process.cwd(), real);
    return fromCwd && !fromCwd.startsWith("..") ? fromCwd : real;
  }

  /** Stops the agents and servers, deletes the namespaces and the temp directory. Idempotent. */
  async teardown(): Promise<void> {
    if (this.torn) return;
    this.torn = true;
    DemoCluster.active.delete(this);
    await this.topo.destroy();
    rmSync(this.root, { recursive: true, force: true });
  }

  /** --keep: stop the processes, keep namespaces and temp directory for inspection. */
  async keep(): Promise<void> {
    if (this.torn) return;
    this.torn = true;
    DemoCluster.active.delete(this);
    await this.topo.detach();
  }

  /** Synchronous teardown for signal handlers. */
  teardownSync(): void {
    if (this.torn) return;
    this.torn = true;
    DemoCluster.active.delete(this);
    this.topo.destroySync();
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Temp directories of demos (named after their topology prefix). */
export function demoTempDirs(): { path: string; prefix: string }[] {
  try {
    return readdirSync(tmpdir())
      .filter((n) => n.startsWith(TEMP_PREFIX))
      .map((n) => ({ path: join(tmpdir(), n), prefix: n.slice(TEMP_PREFIX.length) }));
  } catch {
    return [];
  }
}
