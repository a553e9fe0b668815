// Route and sysctl parts of `felix-dump diff --live`, read from this network namespace.

import type { DesiredState } from "../../calc-graph/desired-state.js";
import { normalizeSysctl, ProcSysctls } from "../../ifaces/sysctl-writer.js";
import { KernelNetlinkRoutes, parseRouteCidr, routeMatches } from "../../routes/netlink-routes.js";
import type { LiveDifference } from "./live-diff.js";
import { networkLiveDiff } from "./live-diff-network.js";

export async function liveDiffExtra(state: DesiredState): Promise<LiveDifference[]> {
  const out: LiveDifference[] = [];
  const nl = new KernelNetlinkRoutes();
  try {
    const have = new Map((await nl.list()).map((r) => [r.dst, r]));
    for (const want of Object.values(state.routes)) {
      const dst = parseRouteCidr(want.dst).text;
      const k = have.get(dst);
      if (!k) out.push({ area: "route", item: dst, problem: "missing" });
      else if (!routeMatches(k, want)) out.push({ area: "route", item: dst, problem: "differs" });
      have.delete(dst);
    }
    for (const dst of have.keys()) out.push({ area: "route", item: dst, problem: "stale (proto 80, not desired)" });
  } finally {
    nl.close();
  }
  out.push(...(await networkLiveDiff(state)));
  const sys = new ProcSysctls();
  for (const [path, want] of Object.entries(state.sysctls).sort()) {
    let have: string;
    try {
      have = await sys.read(path);
    } catch {
      out.push({ area: "sysctl", item: path.replace(/\//g, "."), problem: "missing" });
      continue;
    }
    if (normalizeSysctl(have) !== normalizeSysctl(want)) {
      out.push({ area: "sysctl", item: path.replace(/\//g, "."), problem: `${normalizeSysctl(have)}, want ${want}` });
    }
  }
  return out;
}
