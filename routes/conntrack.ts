// Conntrack entries of workload addresses that left this node or moved to
// another interface. An established flow of a deleted pod stays in the
// conntrack table after its address goes to a new pod; the new pod's policy
// never sees the flow's packets (ESTABLISHED is accepted before policy), so
// the old peer keeps talking to the new pod. Felix deletes such entries when a
// workload's route goes away or changes interface, before the address's new
// route is programmed; so do we (src/dataplane.ts).

import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import type { Route } from "./route.js";

export interface ConntrackTable {
  /** Deletes every entry whose original source or reply source is `ip`; resolves the number deleted. */
  deleteFlows(ip: string): Promise<number>;
}

/**
 * The addresses (bare, sorted) whose local workload route in `before` is gone
 * from `after` or now points elsewhere (another interface, another node).
 */
export function movedWorkloadAddresses(
  before: Readonly<Record<string, Route>> | undefined,
  after: Readonly<Record<string, Route>>,
): string[] {
  if (!before) return [];
  const out: string[] = [];
  for (const [dst, r] of Object.entries(before)) {
    if (r.kind !== "local-workload") continue;
    const now = after[dst];
    if (now?.kind === "local-workload" && now.dev === r.dev) continue;
    out.push(dst.replace(/\/(32|128)$/, ""));
  }
  return out.sort();
}

/**
 * The `conntrack` command (conntrack-tools) in the current network namespace:
 * `conntrack --family <f> --delete --orig-src <ip>`, then `--reply-src <ip>`
 * (a flow to the address has it as reply source, a DNATed one too).
 */
export class ConntrackCli implements ConntrackTable {
  constructor(private readonly command = "conntrack") {}

  async deleteFlows(ip: string): Promise<number> {
    const family = ip.includes(":") ? "ipv6" : "ipv4";
    let n = 0;
    for (const dir of ["--orig-src", "--reply-src"]) n += await this.run(["--family", family, "--delete", dir, ip]);
    return n;
  }

  private run(args: string[]): Promise<number> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.command, args, { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.on("data", (d) => {
        err += d;
      });
      child.on("error", reject);
      child.on("close", (code) => {
        // "N flow entries have been deleted." (exit 1 when N is 0).
        const m = /(\d+) flow entries have been deleted/.exec(err);
        if (m) resolve(Number(m[1]));
        else reject(new Error(`conntrack ${args.join(" ")}: exit ${code}: ${err.trim()}`));
      });
    });
  }
}

/** The `conntrack` executable on PATH or in the sbin directories, if installed. */
export function findConntrack(path = process.env.PATH ?? ""): string | undefined {
  for (const d of [...path.split(delimiter), "/usr/sbin", "/sbin", "/usr/local/sbin"]) {
    if (!d) continue;
    try {
      accessSync(join(d, "conntrack"), constants.X_OK);
      return join(d, "conntrack");
    } catch {}
  }
  return undefined;
}

/** In memory, for unit tests: flows as `<src> <dst>` (original direction). */
export class FakeConntrack implements ConntrackTable {
  readonly flows = new Set<string>();
  readonly calls: string[] = [];

  async deleteFlows(ip: string): Promise<number> {
    this.calls.push(ip);
    let n = 0;
    for (const f of [...this.flows]) {
      const [src, dst] = f.split(" ");
      if (src === ip || dst === ip) {
        this.flows.delete(f);
        n++;
      }
    }
    return n;
  }
}
