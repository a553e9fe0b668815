// `felix-dump hits --live`: the kernel's per-rule packet and byte counters
// (iptables-save -c, filter table; in nftables mode the `counter` of each rule
// of our table's `filter-` chains) mapped back to where each rule comes from,
// summed per origin: per policy rule, tier end, profile and static drop.
// Positions map because the kernel holds our chains as the graph renders them
// (`felix-dump diff --live` tells when it does not); an nft rule counts only
// when its hash comment is the rendered rule's at that position.

import { execFile } from "node:child_process";
import { familyKey } from "../../calc-graph/desired-state.js";
import type { IptablesMode } from "../../iptables/backend.js";
import { chainOf } from "../../model/tables.js";
import { countersFromJson, type RuleCounter } from "../../nftables/counters.js";
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

/** One kernel rule's counters at its position (1-based) in one of our filter chains. */
interface KernelCount {
  readonly chain: string;
  readonly index: number;
  readonly packets: number;
  readonly bytes: number;
}

/** Counters of our policy-path rules (policy, profile and workload chains), summed per origin. */
function sumHits(view: NodeView, counts: Iterable<KernelCount>, v: 4 | 6): HitCount[] {
  const map = new OriginMap(view);
  const chains = view.chains(v, "filter");
  const sums = new Map<string, { origin: Origin; packets: number; bytes: number; rules: string[] }>();
  for (const { chain, index, packets, bytes } of counts) {
    if (!/^cali-(pi|po|pri|pro|tw|fw)-/.test(chain)) continue;
    const rule = chains(chain)?.[index - 1];
    if (!rule) continue; // not (yet) ours as rendered: diff --live tells
    // Only rules that decide: policy rules, tier ends, profiles' and the final drops.
    const decides = rule.action.kind === "reject" || (rule.action.kind === "verdict" && rule.action.verdict === "DROP");
    const marks = rule.action.kind === "setMark" && rule.action.value !== 0 && /^cali-p/.test(chain);
    if (!decides && !marks) continue;
    const origin = map.of({ node: view.name, table: "filter", chain, index, rule }, v);
    const key = JSON.stringify(origin);
    const s = sums.get(key) ?? { origin, packets: 0, bytes: 0, rules: [] };
    s.packets += packets;
    s.bytes += bytes;
    s.rules.push(`${chain}#${index}`);
    sums.set(key, s);
  }
  return [...sums.values()].sort((a, b) => b.packets - a.packets || whyText(a.origin).localeCompare(whyText(b.origin)));
}

/** From `iptables-save -c -t filter` text. */
export function countHits(view: NodeView, saved: string, v: 4 | 6): HitCount[] {
  const at = new Map<string, number>();
  const counts: KernelCount[] = [];
  for (const line of saved.split("\n")) {
    const m = /^\[(\d+):(\d+)\] -A (\S+) /.exec(line);
    if (!m) continue;
    const index = (at.get(m[3]) ?? 0) + 1;
    at.set(m[3], index);
    counts.push({ chain: m[3], index, packets: Number(m[1]), bytes: Number(m[2]) });
  }
  return sumHits(view, counts, v);
}

/**
 * From our nft table's rule counters (nftables mode; `view` rendered with the
 * nft renderer): chain `filter-X` is chain X; a rule whose hash is not the
 * rendered one at its position, or that has no counter, is not counted.
 */
export function countNftHits(view: NodeView, counters: readonly RuleCounter[], v: 4 | 6): HitCount[] {
  const filter = view.state.iptables[familyKey(v)].filter;
  const at = new Map<string, number>();
  const counts: KernelCount[] = [];
  for (const c of counters) {
    if (!c.chain.startsWith("filter-")) continue;
    const chain = c.chain.slice("filter-".length);
    const index = (at.get(chain) ?? 0) + 1;
    at.set(chain, index);
    if (c.packets === undefined || c.bytes === undefined) continue;
    if (c.hash === undefined || chainOf(filter, chain)?.rules[index - 1]?.hash !== c.hash) continue;
    counts.push({ chain, index, packets: c.packets, bytes: c.bytes });
  }
  return sumHits(view, counts, v);
}

export async function liveHits(view: NodeView, mode: IptablesMode, v: 4 | 6): Promise<HitCount[]> {
  return countHits(view, await saveCounters(mode, v), v);
}

/** nftables mode: our `ip`/`ip6` table's counters (`view` rendered with the nft renderer). */
export async function liveNftHits(view: NodeView, v: 4 | 6): Promise<HitCount[]> {
  // The netlink reader loads only here: felix-dump's other commands do not need it.
  const { readLiveNft } = await import("./live-nft.js");
  const family = v === 4 ? "ip" : "ip6";
  let counters: RuleCounter[] | null;
  try {
    counters = await readLiveNft(
      family,
      (b) => b.readCounters(),
      (json) => (json === undefined ? null : countersFromJson(json)),
    );
  } catch (e) {
    throw new RuntimeError(`reading table ${family} calico failed (root needed): ${(e as Error).message}`);
  }
  return countNftHits(view, counters ?? [], v);
}

export function hitsText(hits: readonly HitCount[]): string {
  const w = Math.max(7, ...hits.map((h) => String(h.packets).length));
  const lines = [`${"packets".padStart(w)}  ${"bytes".padStart(10)}  origin`];
  for (const h of hits)
    lines.push(`${String(h.packets).padStart(w)}  ${String(h.bytes).padStart(10)}  ${whyText(h.origin)}`);
  return `${lines.join("\n")}\n`;
}
