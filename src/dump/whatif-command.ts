// `felix-dump whatif --resources <dir> --add <file|dir> [--remove <ns/name>] [--port <proto/port>]`:
// the cluster traced as it is and as it would be with the policies added and
// removed; prints the pod pairs whose reachability changes.

import { readFile, stat } from "node:fs/promises";
import type { Command } from "commander";
import type { ResourceUpdate } from "../../model/resource.js";
import { type PortSpec, portsNamedIn, whatIf, whatIfText } from "../../trace/whatif.js";
import { UsageError } from "../cli/errors.js";
import { parseManifestText, readManifestDir } from "../datastore/manifests.js";
import { type TraceOptions, tracerFor } from "./trace-command.js";

interface WhatIfOptions extends TraceOptions {
  add: string[];
  remove: string[];
  port: string[];
}

async function readAdded(path: string): Promise<ResourceUpdate[]> {
  try {
    if ((await stat(path)).isDirectory()) return (await readManifestDir(path)).updates;
    return parseManifestText(await readFile(path, "utf8"), path).updates;
  } catch (e) {
    throw new UsageError(`cannot read --add ${path}: ${(e as Error).message}`);
  }
}

const isPolicy = (u: ResourceUpdate) => u.kind.endsWith("Policy");
const keyOf = (u: ResourceUpdate) => (u.namespace ? `${u.namespace}/${u.name}` : u.name);

function parsePort(text: string): PortSpec {
  const m = /^(tcp|udp|sctp)\/(\d+)$/i.exec(text.trim()) ?? /^(\d+)\/(tcp|udp|sctp)$/i.exec(text.trim());
  if (!m) throw new UsageError(`--port must look like tcp/80, not ${JSON.stringify(text)}`);
  const [proto, port] = /^\d/.test(m[1]) ? [m[2], m[1]] : [m[1], m[2]];
  if (Number(port) < 1 || Number(port) > 65535) throw new UsageError(`--port ${text}: no such port`);
  return { port: Number(port), protocol: proto.toLowerCase() as PortSpec["protocol"] };
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function whatIfCommand(cmd: Command): Command {
  return cmd
    .option("--add <file|dir>", "manifests to add (or replace, by kind/namespace/name)", collect, [])
    .option("--remove <ns/name>", "a policy to remove (`<name>` for a cluster-scoped one)", collect, [])
    .option("--port <proto/port>", "ports to check (default: those the added and removed policies name)", collect, [])
    .action(async (o: WhatIfOptions) => {
      if (o.add.length === 0 && o.remove.length === 0)
        throw new UsageError("nothing to change: give --add or --remove");
      const ports = o.port.map(parsePort);
      const { tracer: before, updates } = await tracerFor(o);
      const added = (await Promise.all(o.add.map(readAdded))).flat();
      const removed = updates.filter((u) => isPolicy(u) && o.remove.includes(keyOf(u)));
      for (const r of o.remove) {
        if (!removed.some((u) => keyOf(u) === r))
          throw new UsageError(`--remove ${r}: no such policy in ${o.resources}`);
      }
      const id = (u: ResourceUpdate) => `${u.kind}/${u.namespace}/${u.name}`;
      const replaced = new Set([...added, ...removed].map(id));
      const afterUpdates = [...updates.filter((u) => !replaced.has(id(u))), ...added];
      const { tracer: after } = await tracerFor(o, afterUpdates);
      const pods = [...after.cluster.endpoints.values()];
      const named = portsNamedIn(
        [...added, ...removed].filter(isPolicy).map((u) => u.value as object),
        pods,
      );
      const check = ports.length > 0 ? ports : named;
      if (check.length === 0) throw new UsageError("the policies name no ports: give --port <proto/port>");
      const report = whatIf(before, after, pods, check);
      process.stdout.write(o.output === "json" ? `${JSON.stringify(report, null, 2)}\n` : whatIfText(report));
    });
}
