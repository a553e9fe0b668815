// Runs a whole reachability matrix through one `felix-dump trace -` process:
// one `<src> <dst>:<port>/<proto>` line per cell in, one JSON result per line out.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const FELIX_DUMP_SCRIPT = fileURLToPath(new URL("../../src/cli/felix-dump.js", import.meta.url));

export interface TraceProbe {
  readonly src: string;
  readonly dst: string;
  readonly port: number;
  readonly protocol: "tcp" | "udp" | "sctp";
}

export interface TraceLine {
  readonly verdict: "allow" | "deny";
  readonly allowedShare: number;
  readonly deniedBy?: { readonly origin: unknown };
  readonly error?: string;
}

/** The verdicts of `probes`, in order, from one trace process over `dir`. */
export function traceMatrix(
  dir: string,
  probes: readonly TraceProbe[],
  env: NodeJS.ProcessEnv = {},
): Promise<TraceLine[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [FELIX_DUMP_SCRIPT, "trace", "--resources", dir, "-o", "json", "--log-level", "error", "-"],
      { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`felix-dump trace exited ${code}: ${err}`));
      const lines = out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as TraceLine);
      if (lines.length !== probes.length)
        return reject(new Error(`${lines.length} results for ${probes.length} probes`));
      resolve(lines);
    });
    child.stdin.end(probes.map((p) => `${p.src} ${p.dst}:${p.port}/${p.protocol}\n`).join(""));
  });
}
