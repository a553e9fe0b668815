// `felix-dump drops --live`: the packets this node's kernel drops on the
// policy path, as they happen, each with the policy, tier end, profile or
// unknown interface that dropped it. The drop paths copy each dropped packet
// to the NFLOG group of dropNflogGroup (rules/drop-log.ts) with a prefix
// naming the chain and rule; nflog-listen.py reads the group over netlink and
// the prefix is mapped back through the graph this node's agent computes.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type DropOrigin, parseDropPrefix } from "../../calc-graph/rules/drop-log.js";
import { whyText } from "../../trace/cluster-trace.js";
import type { NodeView } from "../../trace/node-view.js";
import { type Origin, OriginMap } from "../../trace/origin.js";
import { RuntimeError, UsageError } from "../cli/errors.js";

export interface DropReport {
  readonly time: string;
  readonly prefix: string;
  readonly src?: string;
  readonly dst?: string;
  readonly protocol?: string;
  readonly sport?: number;
  readonly dport?: number;
  readonly indev?: string;
  readonly outdev?: string;
  readonly origin?: Origin;
}

/** The listener script, beside this file in src/ or found from dist/. */
export function nflogListener(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const found = [join(here, "nflog-listen.py"), resolve(here, "../../../src/dump/nflog-listen.py")].find(existsSync);
  if (!found) throw new RuntimeError("src/dump/nflog-listen.py not found");
  return found;
}

/** One listener line → a report (origin decoded when the prefix is ours). */
export function dropReport(line: Record<string, unknown>, decode: (d: DropOrigin) => Origin, now: Date): DropReport {
  const prefix = String(line.prefix ?? "");
  const d = parseDropPrefix(prefix);
  const pick = <K extends keyof DropReport>(k: K) =>
    line[k] !== undefined && line[k] !== null ? { [k]: line[k] } : {};
  return {
    time: now.toISOString(),
    prefix,
    ...pick("src"),
    ...pick("dst"),
    ...pick("protocol"),
    ...pick("sport"),
    ...pick("dport"),
    ...pick("indev"),
    ...pick("outdev"),
    ...(d ? { origin: decode(d) } : {}),
  };
}

export function dropText(r: DropReport): string {
  const ep = (ip?: string, port?: number) =>
    `${ip?.includes(":") ? `[${ip}]` : ip}${port !== undefined ? `:${port}` : ""}`;
  const via = [r.indev && `in ${r.indev}`, r.outdev && `out ${r.outdev}`].filter(Boolean).join(" ");
  const by = r.origin ? whyText(r.origin) : `prefix ${JSON.stringify(r.prefix)}`;
  return `${r.time}  dropped ${ep(r.src, r.sport)} → ${ep(r.dst, r.dport)}/${r.protocol}${via ? ` (${via})` : ""}  by ${by}\n`;
}

/** Listens until interrupted; `ready` is called once the group is bound. */
export async function listenDrops(
  view: NodeView,
  group: number,
  emit: (r: DropReport) => void,
  ready: () => void = () => {},
): Promise<void> {
  const map = new OriginMap(view);
  const child = spawn("python3", [nflogListener(), String(group)], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const stop = () => child.kill("SIGTERM");
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const exited = new Promise<number | null>((res) => child.on("close", res));
  for await (const line of createInterface({ input: child.stdout })) {
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(line);
    } catch {
      continue;
    }
    if ("listening" in j) ready();
    else emit(dropReport(j, (d) => map.ofDrop(view, d), new Date()));
  }
  const code = await exited;
  if (code !== 0 && code !== null)
    throw new RuntimeError(`cannot listen on NFLOG group ${group} (root needed): ${err.trim()}`);
}

export function dropGroup(view: NodeView, flag: string | undefined): number {
  if (flag !== undefined) {
    const g = Number(flag);
    if (!Number.isInteger(g) || g < 1 || g > 65535) throw new UsageError(`--group must be 1-65535, not ${flag}`);
    return g;
  }
  const g = view.state.config?.settings.dropNflogGroup;
  if (!g)
    throw new UsageError(
      "drop logging is off: set dropNflogGroup (FELIX_DROPNFLOGGROUP) for the agent, or give --group",
    );
  return g;
}
