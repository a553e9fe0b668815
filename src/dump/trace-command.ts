// `felix-dump trace [--node-name <node>] <src-ip> <dst-ip>:<port>/<proto>`, or
// `-` for packets on stdin (one per line, one result per line): the cluster
// tracer (trace/) over the graph each node's agent computes from the
// manifests. FELIX_PROXYMODE off is traced as the iptables proxy mode would
// program it (said in a note), as `felix-dump services` shows it.

import { createInterface } from "node:readline";
import type { Command } from "commander";
import type { GraphConfig } from "../../calc-graph/calc-graph.js";
import { IPTABLES_RULES } from "../../iptables/rule-render.js";
import type { ResourceUpdate } from "../../model/resource.js";
import type { RuleRenderer } from "../../model/rule-renderer.js";
import { NFT_RULES } from "../../nftables/render.js";
import { clusterModel } from "../../trace/cluster-model.js";
import { ClusterTracer, type TraceResult } from "../../trace/cluster-trace.js";
import { traceResultText } from "../../trace/format.js";
import type { TracePacket } from "../../trace/packet.js";
import { UsageError } from "../cli/errors.js";
import { graphConfigFromEnv } from "../config.js";
import { readManifestDir } from "../datastore/manifests.js";
import { createLogger, type LogFormat } from "../log.js";

export interface TraceOptions {
  resources: string;
  nodeName?: string;
  output: "text" | "json";
  logLevel: string;
  logFormat?: LogFormat;
}

/** `10.96.0.10:80/tcp`, `[fd00::10]:80/udp`. */
export function parseTarget(text: string): { ip: string; port: number; protocol: "tcp" | "udp" | "sctp" } {
  const m = /^\[?([0-9a-fA-F:.]+?)\]?:(\d+)\/(tcp|udp|sctp)$/i.exec(text.trim());
  if (!m || Number(m[2]) > 65535) {
    throw new Error(`destination must look like <ip>:<port>/<tcp|udp|sctp>, not ${JSON.stringify(text)}`);
  }
  return { ip: m[1].toLowerCase(), port: Number(m[2]), protocol: m[3].toLowerCase() as "tcp" | "udp" | "sctp" };
}

/** `<src-ip> <dst-ip>:<port>/<proto>` → packet (a fixed ephemeral source port). */
export function parsePacket(src: string, dst: string): TracePacket {
  if (!/^[0-9a-fA-F:.]+$/.test(src)) throw new Error(`source must be an IP address, not ${JSON.stringify(src)}`);
  const t = parseTarget(dst);
  return { src: src.toLowerCase(), dst: t.ip, sport: 40000, dport: t.port, protocol: t.protocol };
}

/** The tracer over a manifest directory's cluster (also what `whatif` builds twice). */
export async function tracerFor(
  o: TraceOptions,
  updatesOverride?: readonly ResourceUpdate[],
  ruleRenderer?: RuleRenderer,
): Promise<{ tracer: ClusterTracer; note: string; updates: readonly ResourceUpdate[] }> {
  let log: ReturnType<typeof createLogger>;
  let base: GraphConfig;
  try {
    log = createLogger(o.logLevel, o.logFormat ?? "text");
    base = graphConfigFromEnv(o.nodeName ?? "", process.env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  let updates = updatesOverride;
  if (!updates) {
    let parsed: Awaited<ReturnType<typeof readManifestDir>>;
    try {
      parsed = await readManifestDir(o.resources);
    } catch (e) {
      throw new UsageError(`cannot read --resources ${o.resources}: ${(e as Error).message}`);
    }
    for (const p of parsed.problems) log.warn({ file: p.file, line: p.line }, p.message);
    updates = parsed.updates;
  }
  const off = (base.proxyMode ?? "off") === "off";
  const cfgFor = (node: string): GraphConfig => ({
    ...base,
    nodeName: node,
    ...(off ? { proxyMode: "iptables" } : {}),
  });
  // kube-proxy's nftables layout exists only as nft rules (the trace is the same over either renderer).
  // `ruleRenderer`: the dataplane the kernel has (hits --live maps the kernel's rules by their hashes).
  const renderer = base.proxyMode === "nftables" ? NFT_RULES : (ruleRenderer ?? base.ruleRenderer ?? IPTABLES_RULES);
  const model = clusterModel(updates, cfgFor, renderer);
  if (o.nodeName && !model.nodeNames.includes(o.nodeName))
    throw new UsageError(`no Node ${o.nodeName} in ${o.resources}`);
  const note = off ? "# FELIX_PROXYMODE is off: services traced as the iptables proxy mode would program them\n" : "";
  return { tracer: new ClusterTracer(model, o.nodeName), note, updates };
}

const write = (o: TraceOptions, r: TraceResult) =>
  process.stdout.write(o.output === "json" ? `${JSON.stringify(r)}\n` : traceResultText(r));

export function traceCommand(cmd: Command): Command {
  return cmd
    .argument("<src-ip>", "source address, or - to read `<src-ip> <dst-ip>:<port>/<proto>` lines from stdin")
    .argument("[dst]", "destination, <ip>:<port>/<tcp|udp|sctp>")
    .action(async (src: string, dst: string | undefined, o: TraceOptions) => {
      if (src !== "-" && dst === undefined) throw new UsageError("missing destination <ip>:<port>/<tcp|udp|sctp>");
      let first: TracePacket | undefined;
      if (src !== "-") {
        try {
          first = parsePacket(src, dst!);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
      }
      const { tracer, note } = await tracerFor(o);
      if (first) {
        if (o.output === "text") process.stdout.write(note);
        write(o, tracer.trace(first));
        return;
      }
      let bad = 0;
      for await (const line of createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })) {
        const words = line.trim().split(/\s+/);
        if (words.length === 1 && words[0] === "") continue;
        try {
          if (words.length !== 2) throw new Error("expected `<src-ip> <dst-ip>:<port>/<proto>`");
          write(o, tracer.trace(parsePacket(words[0], words[1])));
        } catch (e) {
          bad++;
          const msg = (e as Error).message;
          process.stdout.write(
            o.output === "json" ? `${JSON.stringify({ line, error: msg })}\n` : `${line}: error: ${msg}\n`,
          );
        }
      }
      if (bad > 0) throw new UsageError(`${bad} line(s) could not be traced`);
    });
}
