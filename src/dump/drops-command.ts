// `felix-dump drops --live`: the packets this node's kernel drops on the
// policy path, as they happen, each with the policy, tier end, profile or
// unknown interface that dropped it. The drop paths copy each dropped packet
// to the NFLOG group of dropNflogGroup (rules/drop-log.ts) with a prefix
// naming the chain and rule; nflog-listen.py reads the group over netlink and
// the prefix is mapped back through the graph this node's agent computes.

import { type DropOrigin, parseDropPrefix } from "../../calc-graph/rules/drop-log.js";
import { whyText } from "../../trace/cluster-trace.js";
import type { NodeView } from "../../trace/node-view.js";
import { type Origin, OriginMap } from "../../trace/origin.js";
import { RuntimeError, UsageError } from "../cli/errors.js";
import { type NflogPacket, readNflog } from "../nflog-reader.js";

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

/** One listener line → a report (origin decoded when the prefix is ours). */
export function dropReport(packet: NflogPacket, decode: (d: DropOrigin) => Origin, now: Date): DropReport {
  const line = packet as unknown as Record<string, unknown>;
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
  let reader: ReturnType<typeof readNflog>;
  try {
    reader = readNflog(group, (p) => emit(dropReport(p, (d) => map.ofDrop(d), new Date())));
  } catch (e) {
    throw new RuntimeError((e as Error).message);
  }
  process.once("SIGINT", () => reader.stop());
  process.once("SIGTERM", () => reader.stop());
  void reader.ready.then(ready, () => {});
  const { code, stderr } = await reader.exited;
  if (code !== 0 && code !== null)
    throw new RuntimeError(`cannot listen on NFLOG group ${group} (root needed): ${stderr.trim()}`);
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
