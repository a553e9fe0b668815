// The worker side of TraceWorker (trace-worker.ts): what `felix-dump trace -` does
// with each line (src/dump/trace-command.ts), for one manifest directory per
// request, its modules loaded once for the life of the worker.

import { parentPort } from "node:worker_threads";
import { parsePacket, tracerFor } from "../../src/dump/trace-command.js";
import type { TraceProbe } from "./trace-matrix.js";

export interface TraceRequest {
  readonly id: number;
  readonly dir: string;
  readonly probes: readonly TraceProbe[];
  /** Only each result's verdict. */
  readonly verdicts: boolean;
}

export type TraceReply =
  | { readonly id: number; readonly lines: unknown[] }
  | { readonly id: number; readonly error: string };

parentPort!.on("message", async ({ id, dir, probes, verdicts }: TraceRequest) => {
  try {
    const { tracer } = await tracerFor({ resources: dir, output: "json", logLevel: "error" });
    // Each result as the CLI prints it (JSON), so the reply is what `felix-dump trace -o json -` gives.
    const lines = probes.map((p) => {
      const r = tracer.trace(parsePacket(p.src, `${p.dst}:${p.port}/${p.protocol}`));
      return verdicts ? r.verdict : JSON.parse(JSON.stringify(r));
    });
    parentPort!.postMessage({ id, lines } satisfies TraceReply);
  } catch (e) {
    parentPort!.postMessage({ id, error: (e as Error).stack ?? String(e) } satisfies TraceReply);
  }
});
