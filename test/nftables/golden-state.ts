// Shared by the kernel tests of the nft syncer and the netlink writer: a golden
// case's desired state rendered with the nft rule renderer, a view in a form
// deepEqual compares, and a listing with each set's elements sorted (a hash
// set lists them in the kernel's order) keeping nft's line wrapping.

import { computeDesiredState, type GraphConfig } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import type { ResourceUpdate } from "../../model/resource.js";
import type { NftBackend, NftFamily } from "../../nftables/backend.js";
import { NFT_TABLES } from "../../nftables/names.js";
import { type NftPart, splitDesired } from "../../nftables/parts.js";
import { desiredView, type NftDesired } from "../../nftables/plan.js";
import { NFT_RULES } from "../../nftables/render.js";
import { type NftView, parseNftJson } from "../../nftables/view.js";
import { loadGoldenCase } from "../golden-cases.js";

/** Cases whose rules nft cannot express yet (the graph leaves that service out). */
export const INEXPRESSIBLE = new Set(["svc-ipv6", "svc-session-affinity"]);

/** A golden case's graph configuration (with the nft rule renderer) and its updates. */
export async function goldenCaseConfig(name: string): Promise<{ cfg: GraphConfig; updates: ResourceUpdate[] }> {
  const { cfg, updates } = await loadGoldenCase(name);
  return { cfg: { ...cfg, ruleRenderer: NFT_RULES }, updates };
}

export async function goldenNftState(name: string): Promise<DesiredState> {
  const { cfg, updates } = await goldenCaseConfig(name);
  return computeDesiredState(cfg, updates);
}

/** A family's desired state split into our tables, as the syncer splits it. */
export function nftParts(state: DesiredState, family: NftFamily): NftPart[] {
  const tables = state.iptables[family === "ip" ? "ipv4" : "ipv6"];
  return splitDesired({ tables, sets: state.ipsets, ...(state.nftObjects ? { objects: state.nftObjects } : {}) });
}

/** Each of our tables as the backend reads it (`nft -j list`, or netlink when it has readView), as plain data. */
export async function readOurTables(b: NftBackend, how: "list" | "readView" = "list") {
  const out: Record<string, ReturnType<typeof plainView>> = {};
  for (const t of NFT_TABLES) {
    if (how === "readView" && b.readView) out[t] = plainView(await b.readView(t));
    else {
      const j = await b.list(t);
      out[t] = plainView(j === undefined ? undefined : parseNftJson(j));
    }
  }
  return out;
}

/** What readOurTables must give once `want` (a whole family's desired state) is loaded. */
export function desiredTables(family: NftFamily, want: NftDesired) {
  const out: Record<string, ReturnType<typeof plainView>> = {};
  for (const p of splitDesired(want)) out[p.table] = plainView(desiredView(family, p.desired, p.table));
  return out;
}

/** A view as plain data (deepEqual compares it): chains and sets by name, elements sorted. */
export function plainView(v: NftView | null | undefined) {
  const view = v ?? { chains: new Map(), sets: new Map() };
  return {
    chains: Object.fromEntries([...view.chains].sort(([a], [b]) => (a < b ? -1 : 1))),
    sets: Object.fromEntries(
      [...view.sets]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([n, x]) => [n, { ...x, elements: [...x.elements].sort() }]),
    ),
  };
}

export function sortedElements(text: string): string {
  return text.replace(/elements = \{ ([^}]*) \}/g, (_m, body: string) => {
    const lines = body.split(/,\n\s*/).map((l) => l.split(", "));
    const items = lines.flat().sort();
    let at = 0;
    const out = lines.map((l) => {
      const part = items.slice(at, at + l.length);
      at += l.length;
      return part.join(", ");
    });
    return `elements = { ${out.join(",\n\t\t\t     ")} }`;
  });
}
