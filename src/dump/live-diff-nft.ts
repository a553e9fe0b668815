// `felix-dump diff --live` in nftables mode: our tables of each family
// (`calico` and the nat tables) against the desired ones (the nft renderer's, split
// as the syncer splits them), chain by chain (hook, rule hashes in order) and
// set by set (type, elements), as the syncer compares them after a read-back
// (over netlink, as the agent reads them; `nft -j list` only where no
// NETLINK_NETFILTER socket opens). Other tables are not looked at.

import type { DesiredState } from "../../calc-graph/desired-state.js";
import type { NftFamily } from "../../nftables/backend.js";
import { familyChains } from "../../nftables/chains.js";
import { familyObjects, nftObjectElements, nftObjectSpec } from "../../nftables/objects.js";
import { splitDesired } from "../../nftables/parts.js";
import type { NftDesired } from "../../nftables/plan.js";
import { familySets } from "../../nftables/table-text.js";
import { type NftView, parseNftJson } from "../../nftables/view.js";
import type { LiveDifference } from "./live-diff.js";
import { readLiveNft } from "./live-nft.js";

/** The differences of one of our tables (`want`: its part, parts.ts); `view` null: the table is missing. */
export function diffNftTable(
  want: NftDesired,
  family: NftFamily,
  table: string,
  view: NftView | null,
): LiveDifference[] {
  const area = `nftables ${family} ${table}`;
  const out: LiveDifference[] = [];
  const chains = [...familyChains(want.tables)];
  const sets = familySets(want.sets, family);
  if (!view) {
    if (chains.length > 0 || sets.length > 0) out.push({ area, item: "table", problem: "missing" });
    return out;
  }
  for (const s of sets) {
    const have = view.sets.get(s.spec.name);
    if (!have) {
      out.push({ area, item: `set ${s.spec.name}`, problem: "missing" });
      continue;
    }
    if (have.type !== s.spec.type || have.interval !== s.spec.interval) {
      const want = `${s.spec.type}${s.spec.interval ? " interval" : ""}`;
      out.push({
        area,
        item: `set ${s.spec.name}`,
        problem: `type ${have.type}${have.interval ? " interval" : ""}, want ${want}`,
      });
      continue;
    }
    const missing = [...s.elements].filter((e) => !have.elements.has(e)).length;
    const extra = [...have.elements].filter((e) => !s.elements.has(e)).length;
    if (missing || extra)
      out.push({ area, item: `set ${s.spec.name}`, problem: `${missing} elements missing, ${extra} extra` });
  }
  const wantSets = new Set(sets.map((s) => s.spec.name));
  for (const d of diffNftObjects(want, family, view)) out.push({ area, ...d });
  for (const o of familyObjects(want.objects, family === "ip" ? 4 : 6)) wantSets.add(o.name);
  for (const name of view.sets.keys())
    if (!wantSets.has(name)) out.push({ area, item: `set ${name}`, problem: "stale" });
  for (const c of chains) {
    const have = view.chains.get(c.name);
    if (!have) {
      out.push({ area, item: `chain ${c.name}`, problem: "missing" });
      continue;
    }
    const hook = (b?: { type: string; hook: string; priority: number }) =>
      b ? `${b.type} ${b.hook} ${b.priority}` : "none";
    if (hook(have.base) !== hook(c.base) || (have.base && have.base.policy !== "accept")) {
      out.push({ area, item: `chain ${c.name}`, problem: `hook ${hook(have.base)}, want ${hook(c.base)}` });
      continue;
    }
    const want = c.rules.map((r) => r.hash);
    if (want.length !== have.hashes.length || want.some((h, i) => h !== have.hashes[i])) {
      const missing = want.filter((h) => !have.hashes.includes(h)).length;
      const extra = have.hashes.filter((h) => h === undefined || !want.includes(h)).length;
      out.push({
        area,
        item: `chain ${c.name}`,
        problem: `rules differ (${missing} missing, ${extra} extra or foreign${missing || extra ? "" : ", order"})`,
      });
    }
  }
  const wantChains = new Set(chains.map((c) => c.name));
  for (const name of view.chains.keys())
    if (!wantChains.has(name)) out.push({ area, item: `chain ${name}`, problem: "stale" });
  return out;
}

/** Both families' tables from the kernel of this network namespace (IPv6 when `ipv6`), read as the agent reads them. */
export async function liveDiffNft(state: DesiredState, ipv6: boolean): Promise<LiveDifference[]> {
  const out: LiveDifference[] = [];
  for (const family of ipv6 ? (["ip", "ip6"] as const) : (["ip"] as const)) {
    const tables = state.iptables[family === "ip" ? "ipv4" : "ipv6"];
    for (const { table, desired } of splitDesired({ tables, sets: state.ipsets, objects: state.nftObjects })) {
      const view = await readLiveNft(
        family,
        (b) => b.readView(table),
        (json) => (json === undefined ? null : parseNftJson(json)),
        table,
      );
      out.push(...diffNftTable(desired, family, table, view));
    }
  }
  return out;
}

/** kube-proxy's maps and affinity sets (FELIX_PROXYMODE=nftables): type, timeout, and a map's elements. */
function diffNftObjects(want: NftDesired, family: NftFamily, view: NftView): Omit<LiveDifference, "area">[] {
  const out: Omit<LiveDifference, "area">[] = [];
  for (const o of familyObjects(want.objects, family === "ip" ? 4 : 6)) {
    const spec = nftObjectSpec(o);
    const item = `${spec.kind} ${o.name}`;
    const have = view.sets.get(o.name);
    if (!have) {
      out.push({ item, problem: "missing" });
    } else if (have.type !== spec.type || have.timeout !== spec.timeout) {
      out.push({
        item,
        problem: `type ${have.type} timeout ${have.timeout}, want ${spec.type} timeout ${spec.timeout}`,
      });
    } else if (spec.timeout === undefined) {
      // An affinity set's elements are the kernel's; a map's are ours.
      const want = nftObjectElements(o);
      const missing = [...want].filter((e) => !have.elements.has(e)).length;
      const extra = [...have.elements].filter((e) => !want.has(e)).length;
      if (missing || extra) out.push({ item, problem: `${missing} elements missing, ${extra} extra` });
    }
  }
  return out;
}
