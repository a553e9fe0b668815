// The watching agent, one per node, for suites that program many steps (the
// conformance suites): a step is written and waited for, instead of a
// `felix --once` per node per step (~0.55 s of CPU each, most of those suites'
// CPU). Each step is one manifest file holding everything (the cluster, the
// policies, a marker), written under a new name (step-<n>.yaml, sorting after
// the last) before the previous step's file is removed: a policy that vanished
// from a file that still exists would stay 500 ms longer (the file datastore
// confirms a drop), one that leaves with its file goes at once.
//
// Programmed = the marker of this step is in the kernel and the previous
// step's is gone, on every node. The marker is a Node with its own podCIDR:
// the agent routes it (a route with our protocol), and an apply writes routes
// only after the policy dataplane (ipsets and iptables, or nft) of the same
// state has committed (src/dataplane.ts; a pod's route never comes before its
// chains). So the marker's route means this step's whole file is programmed,
// and the previous one's removal too.

import { renameSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import type { Background, Topology, TopoNode } from "../../src/netns/topology.js";
import { eventually, felixDaemon, type ManifestDir } from "./cluster.js";

export interface StepDaemonsOptions {
  /** The /24 a step's marker Node gets, inside the suite's IP pool and apart from its nodes' (e.g. `10.66.${n}.0/24`). */
  readonly markerCIDR: (step: number) => string;
  /** A free address on the nodes' underlay, the markers' InternalIP (their routes go via it). */
  readonly markerIp: string;
  /** Variables for the agents, over felixDaemon's. */
  readonly env?: NodeJS.ProcessEnv;
}

export class StepDaemons {
  private daemons: Background[] = [];
  private step = 0;
  /** Wall time of each step from its write to programmed on every node. */
  readonly stepMs: number[] = [];

  constructor(
    private readonly topo: Topology,
    private readonly dir: ManifestDir,
    private readonly nodes: readonly TopoNode[],
    private readonly o: StepDaemonsOptions,
  ) {}

  /** Each agent's output so far (its last 256 KB), node by node. */
  outputs(): string[] {
    return this.daemons.map((d) => d.output());
  }

  /** The agents' output (for a failure's evidence), node by node. */
  output(): string {
    return this.daemons.map((d, i) => `${this.nodes[i]!.name} daemon:\n${d.output().slice(-4000)}`).join("\n\n");
  }

  /** Writes the step's documents, starts the agents on the first step, and waits until every node has programmed it. */
  async program(docs: readonly object[]): Promise<void> {
    const t0 = performance.now();
    const n = ++this.step;
    const marker = {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: `e2e-step-marker-${n}` },
      spec: { podCIDR: this.o.markerCIDR(n) },
      status: { addresses: [{ type: "InternalIP", address: this.o.markerIp }] },
    };
    // Written aside and renamed: the agent never reads half a step (the marker comes last anyway).
    const aside = join(this.dir.path, `.${fileOf(n)}.tmp`);
    writeFileSync(aside, [...docs, marker].map((d) => stringify(d)).join("---\n"));
    renameSync(aside, join(this.dir.path, fileOf(n)));
    if (n > 1) this.dir.remove(fileOf(n - 1));
    if (this.daemons.length === 0) {
      // No refresh timer: a step is waited for, and a refresh mid-probe would only cost CPU.
      const env = { FELIX_IPTABLESREFRESHINTERVAL: "0", ...this.o.env };
      this.daemons = this.nodes.map((node) => felixDaemon(this.topo, this.dir.path, node, env));
    }
    const want = procRoute(this.o.markerCIDR(n));
    const gone = n > 1 ? procRoute(this.o.markerCIDR(n - 1)) : undefined;
    for (const [i, node] of this.nodes.entries()) {
      // The routing table of the agent's own namespace, through its /proc: a file read per poll, no process.
      const table = `/proc/${this.daemons[i]!.child.pid}/net/route`;
      await eventually(
        async () => {
          const routes = await readFile(table, "utf8");
          return want.test(routes) && (gone === undefined || !gone.test(routes));
        },
        (ok) => ok,
        30_000,
        10,
      ).catch((e: Error) => {
        throw new Error(`step ${n} not programmed on ${node.name}: ${e.message}\n${this.output()}`);
      });
    }
    this.stepMs.push(performance.now() - t0);
  }

  /** Stops the agents and removes the last step's file. */
  async stop(): Promise<void> {
    for (const d of this.daemons) await d.kill();
    this.daemons = [];
    if (this.step > 0) rmSync(join(this.dir.path, fileOf(this.step)), { force: true });
  }
}

/** Zero-padded: a later step's file sorts last, so it wins while the previous one is still there. */
const fileOf = (n: number) => `step-${String(n).padStart(5, "0")}.yaml`;

/** A /24's route as /proc/net/route prints it: its destination, in the host's (little-endian) byte order, then the rest of the line up to the mask. */
function procRoute(cidr: string): RegExp {
  const m = /^(\d+)\.(\d+)\.(\d+)\.0\/24$/.exec(cidr);
  if (!m) throw new Error(`a step marker must be a /24, not ${cidr}`);
  const hex = (x: string) => Number(x).toString(16).padStart(2, "0").toUpperCase();
  return new RegExp(`^\\S+\\t00${hex(m[3]!)}${hex(m[2]!)}${hex(m[1]!)}\\t(?:\\S+\\t){5}00FFFFFF\\t`, "m");
}
