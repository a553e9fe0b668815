// A reachability matrix traced as `felix-dump trace -` traces it, in a worker
// thread that lives as long as the test file: a suite that traces a matrix per
// step (test/e2e/conformance.test.ts) pays the loading of the agent's modules
// (about half of each `felix-dump trace` process's CPU) once, and the trace
// still runs beside the step's probes. The CLI itself, stdin to JSON lines, is
// run by trace-matrix.ts's callers (test/trace/, test/e2e/services.test.ts).

import { Worker } from "node:worker_threads";
import type { TraceLine, TraceProbe } from "./trace-matrix.js";
import type { TraceReply, TraceRequest } from "./trace-worker-thread.js";

export class TraceWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (l: unknown[]) => void; reject: (e: Error) => void }>();

  /** The results of `probes`, in order, as `felix-dump trace -o json -` prints them, over the cluster of manifest directory `dir` (read now). */
  matrix(dir: string, probes: readonly TraceProbe[]): Promise<TraceLine[]> {
    return this.request(dir, probes, false) as Promise<TraceLine[]>;
  }

  /** Only the verdicts of `probes`, in order: the same traces, without the paths (most of a result) to serialise and copy. */
  verdicts(dir: string, probes: readonly TraceProbe[]): Promise<TraceLine["verdict"][]> {
    return this.request(dir, probes, true) as Promise<TraceLine["verdict"][]>;
  }

  private request(dir: string, probes: readonly TraceProbe[], verdicts: boolean): Promise<unknown[]> {
    this.worker ??= this.start();
    const w = this.worker;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref(); // a request waits: the file's process stays up for the answer
      w.postMessage({ id, dir, probes, verdicts } satisfies TraceRequest);
    });
  }

  /** Ends the worker (a pending matrix fails). */
  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }

  private start(): Worker {
    // The variables as they are now (a dataplane mode's, test/e2e/dataplane-mode.ts), as a child would get them.
    const w = new Worker(new URL("./trace-worker-thread.js", import.meta.url), { env: { ...process.env } });
    w.unref(); // idle, never what keeps a test file's process alive
    w.on("message", (r: TraceReply) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      if (this.pending.size === 0) w.unref();
      if ("error" in r) p?.reject(new Error(`trace failed: ${r.error}`));
      else p?.resolve(r.lines);
    });
    const failAll = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      if (this.worker === w) this.worker = undefined;
    };
    w.on("error", failAll);
    w.on("exit", (code) => failAll(new Error(`trace worker exited (${code})`)));
    return w;
  }
}
