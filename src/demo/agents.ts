// The real `felix` daemon in every node namespace, watching the demo's manifest
// directory: the production code path (file datastore), started as its own
// process. Its JSON log tells when it has programmed the kernel.

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { shebangNodeFlags } from "../cli/node-flags.js";
import type { Background, Topology, TopoNode } from "../netns/topology.js";

/** dist/src/cli/felix.js (this file is dist/src/demo/agents.js). */
export const FELIX_BIN = resolve(dirname(fileURLToPath(import.meta.url)), "../cli/felix.js");

const APPLIED = new Set(["dataplane programmed", "dataplane already in sync: no changes"]);

export class Agent {
  readonly proc: Background;
  /** Number of completed dataplane applies (logged by the daemon). */
  applies = 0;
  /** Errors the agent logged (failed applies…), newest last; manifest problems are shown from the graph. */
  readonly problems: string[] = [];
  private buf = "";
  private waiters: (() => void)[] = [];

  constructor(
    topo: Topology,
    readonly node: TopoNode,
    resources: string,
    statusDir: string,
  ) {
    this.proc = topo.spawn(
      node,
      process.execPath,
      // The bin's own node flags (its shebang), as `npx felix` would start it.
      [
        ...shebangNodeFlags(FELIX_BIN),
        FELIX_BIN,
        "--datastore",
        "file",
        "--resources",
        resources,
        "--node-name",
        node.name,
        "--log-format",
        "json",
      ],
      {
        ...process.env,
        FELIX_ENDPOINTSTATUSPATHPREFIX: statusDir,
        FELIX_HEALTHENABLED: "false",
        FELIX_PROMETHEUSMETRICSENABLED: "false",
        FELIX_LOGSEVERITYSCREEN: "info",
        // Always, so a Service added while the demo runs is proxied too (no Service: only empty dispatch chains).
        FELIX_PROXYMODE: "iptables",
      },
    );
    this.proc.child.stderr!.on("data", (d: string) => this.feed(d));
    this.proc.child.stdout!.on("data", (d: string) => this.feed(d));
    void this.proc.exited.then(() => this.wake());
  }

  private feed(d: string): void {
    this.buf += d;
    let i = this.buf.indexOf("\n");
    while (i >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      this.line(line);
      i = this.buf.indexOf("\n");
    }
  }

  private line(line: string): void {
    let rec: { level?: number; msg?: string; file?: string; line?: number; err?: string };
    try {
      rec = JSON.parse(line);
    } catch {
      return;
    }
    if (rec.msg && APPLIED.has(rec.msg)) {
      this.applies++;
      this.wake();
    } else if ((rec.level ?? 0) >= 50 && rec.msg) {
      const where = rec.file ? ` (${rec.file}${rec.line ? `:${rec.line}` : ""})` : "";
      this.problems.push(`${this.node.name}: ${rec.msg}${rec.err ? `: ${rec.err}` : ""}${where}`);
      if (this.problems.length > 20) this.problems.shift();
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get exited(): boolean {
    return this.proc.child.exitCode !== null || this.proc.child.signalCode !== null;
  }

  /** Resolves true once more than `after` applies have completed, false at the deadline or if it exited. */
  async waitForApply(after: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.applies <= after) {
      if (this.exited) return false;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
    return true;
  }

  /** The last lines of its output, for error messages. */
  tail(lines = 15): string {
    return this.proc.output().trimEnd().split("\n").slice(-lines).join("\n");
  }
}

export function statusDirFor(root: string, node: TopoNode): string {
  return join(root, "status", node.name);
}
