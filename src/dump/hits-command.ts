// `felix-dump hits --live`: the kernel's per-rule packet and byte counters
// (iptables-save -c, filter table) mapped back to where each rule comes from,
// summed per origin: per policy rule, tier end, profile and static drop.
// Positions map because the kernel holds our chains as the graph renders them
// (`felix-dump diff --live` tells when it does not).

import { execFile } from "node:child_process";
import type { IptablesMode } from "../../iptables/backend.js";
import { whyText } from "../../trace/cluster-trace.js";
import type { NodeView } from "../../trace/node-view.js";
import { type Origin, OriginMap } from "../../trace/origin.js";
import { RuntimeError } from "../cli/errors.js";

export interface HitCount {
  readonly origin: Origin;
  readonly packets: number;
  readonly bytes: number;
  /** The kernel rules counted, as `chain#n`. */
  readonly rules: readonly string[];
}

function saveCounters(mode: IptablesMode, v: 4 | 6): Promise<string> {
  const cmd = `${v === 4 ? "iptables" : "ip6tables"}-${mode}-save`;
  return new Promise((res, rej) =>
    execFile(cmd, ["-c", "-t", "filter"], { maxBuffer: 256 << 20 }, (err, out, stderr) =>
      err ? rej(new RuntimeError(`${cmd} -c failed (root needed): ${stderr || err.message}`)) : res(out),
    ),
  );
}

/** Counters of our policy-path rules (policy, profile and workload chains), summed per origin. */
export function countHits(view: NodeView, saved: string, v: 4 | 6): HitCount[] {
  const map = new OriginMap(view);
  const chains = view.chains(v, "filter");
  const at = new Map<string, number>();
  const sums = new Map<string, { origin: Origin; packets: number; bytes: number; rules: string[] }>();
  for (const line of saved.split("\n")) {
    const m = /^\[(\d+):(\d+)\] -A (\S+) /.exec(line);
    if (!m || !/^cali-(pi|po|pri|pro|tw|fw)-/.test(m[3])) continue;
    const chain = m[3];
    const index = (at.get(chain) ?? 0) + 1;
    at.set(chain, index);
    const rule = chains(chain)?.[index - 1];
    if (!rule) continue; // not (yet) ours as rendered: diff --live tells
    // Only rules that decide: policy rules, tier ends, profiles' and the final drops.
    const decides = rule.action.kind === "reject" || (rule.action.kind === "verdict" && rule.action.verdict === "DROP");
    const marks = rule.action.kind === "setMark" && rule.action.value !== 0 && /^cali-p/.test(chain);
    if (!decides && !marks) continue;
    const origin = map.of({ node: view.name, table: "filter", chain, index, rule }, v);
    const key = JSON.stringify(origin);
    const s = sums.get(key) ?? { origin, packets: 0, bytes: 0, rules: [] };
    s.packets += Number(m[1]);
    s.bytes += Number(m[2]);
    s.rules.push(`${chain}#${index}`);
    sums.set(key, s);
  }
  return [...sums.values()].sort((a, b) => b.packets - a.packets || whyText(a.origin).localeCompare(whyText(b.origin)));
}

export async function liveHits(view: NodeView, mode: IptablesMode, v: 4 | 6): Promise<HitCount[]> {
  return countHits(view, await saveCounters(mode, v), v);
}

export function hitsText(hits: readonly HitCount[]): string {
  const w = Math.max(7, ...hits.map((h) => String(h.packets).length));
  const lines = [`${"packets".padStart(w)}  ${"bytes".padStart(10)}  origin`];
  for (const h of hits)
    lines.push(`${String(h.packets).padStart(w)}  ${String(h.bytes).padStart(10)}  ${whyText(h.origin)}`);
  return `${lines.join("\n")}\n`;
}
