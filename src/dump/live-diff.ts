// `felix-dump diff --live`: what the kernel of this network namespace has vs
// what it should have, per table/chain, set, route and sysctl.

import type { DesiredState } from "../../calc-graph/desired-state.js";
import { backendAvailable, ExecIptablesBackend, type IptablesMode } from "../../iptables/backend.js";
import { ExecIpsetBackend } from "../../iptables/ipset-backend.js";
import { parseIpsetSave } from "../../iptables/ipset-syncer.js";
import { parseSave } from "../../iptables/save-parser.js";
import { diffTables } from "../../iptables/table-diff.js";
import { ipSetList, ipSetOf } from "../../model/ipset-shards.js";

export interface LiveDifference {
  /** `iptables v4 filter`, `ipset`, `route`, `sysctl` */
  readonly area: string;
  readonly item: string;
  readonly problem: string;
}

export interface LiveDiffSources {
  readonly mode: IptablesMode;
  /** Routes and sysctls, when the caller can read them. */
  readonly extra?: (state: DesiredState) => Promise<LiveDifference[]>;
}

export async function liveDiff(state: DesiredState, src: LiveDiffSources): Promise<LiveDifference[]> {
  const out: LiveDifference[] = [];
  const v6 = await backendAvailable(6, src.mode);
  for (const family of [4, 6] as const) {
    if (family === 6 && !v6) continue;
    const kernel = parseSave(await new ExecIptablesBackend(family, src.mode).save());
    const fam = family === 4 ? "ipv4" : "ipv6";
    for (const d of diffTables(state.iptables[fam], kernel)) {
      out.push({
        area: `iptables v${family} ${d.table}`,
        item: d.chain,
        problem: d.detail ? `${d.problem} (${d.detail})` : d.problem,
      });
    }
  }
  const sets = parseIpsetSave(await new ExecIpsetBackend().save());
  for (const want of ipSetList(state.ipsets).filter((x) => x.family === 4 || v6)) {
    const have = sets.get(want.name);
    if (!have) {
      out.push({ area: "ipset", item: want.name, problem: "missing" });
      continue;
    }
    const missing = [...want.members].filter((m) => !have.members.has(m)).length;
    const extra = [...have.members].filter((m) => !want.members.has(m)).length;
    if (have.type !== want.type)
      out.push({ area: "ipset", item: want.name, problem: `type ${have.type}, want ${want.type}` });
    else if (missing || extra)
      out.push({ area: "ipset", item: want.name, problem: `${missing} members missing, ${extra} extra` });
  }
  for (const name of sets.keys()) {
    if (/^cali[46]/.test(name) && !ipSetOf(state.ipsets, name))
      out.push({ area: "ipset", item: name, problem: "stale" });
  }
  if (src.extra) out.push(...(await src.extra(state)));
  return out;
}

export function liveDiffText(diffs: readonly LiveDifference[]): string {
  if (diffs.length === 0) return "in sync: the kernel matches the desired state\n";
  return `${diffs.map((d) => `${d.area}: ${d.item}: ${d.problem}`).join("\n")}\n${diffs.length} difference(s)\n`;
}
