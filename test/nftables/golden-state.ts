// Shared by the kernel tests of the nft syncer and the netlink writer: a golden
// case's desired state rendered with the nft rule renderer, a view in a form
// deepEqual compares, and a listing with each set's elements sorted (a hash
// set lists them in the kernel's order) keeping nft's line wrapping.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { computeDesiredState, type GraphConfig } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import type { ProxyMode } from "../../calc-graph/services/model.js";
import { NFT_RULES } from "../../nftables/render.js";
import type { NftView } from "../../nftables/view.js";
import { graphConfigFromEnv } from "../../src/config.js";
import { readManifestDir } from "../../src/datastore/manifests.js";
import { GOLDEN_DIR } from "../golden-cases.js";

/** Cases whose rules nft cannot express yet (the graph leaves that service out). */
export const INEXPRESSIBLE = new Set(["svc-ipv6", "svc-session-affinity"]);

/** A golden case's graph configuration (with the nft rule renderer) and its updates. */
export async function goldenCaseConfig(name: string): Promise<{ cfg: GraphConfig; updates: ResourceUpdates }> {
  const d = join(GOLDEN_DIR, name);
  const spec = JSON.parse(readFileSync(join(d, "case.json"), "utf8")) as {
    node: string;
    proxyMode?: ProxyMode;
    env?: Record<string, string>;
    kubeIPVSDevice?: boolean;
  };
  const parsed = await readManifestDir(d);
  assert.deepEqual(
    parsed.problems.filter((p) => basename(p.file) !== "case.json"),
    [],
  );
  const base: GraphConfig = spec.env
    ? graphConfigFromEnv(spec.node, { ...spec.env, ...(spec.proxyMode ? { FELIX_PROXYMODE: spec.proxyMode } : {}) })
    : { nodeName: spec.node, proxyMode: spec.proxyMode };
  const cfg = { ...base, ...(spec.kubeIPVSDevice ? { kubeIPVSSupport: true } : {}), ruleRenderer: NFT_RULES };
  return { cfg, updates: parsed.updates };
}

type ResourceUpdates = Awaited<ReturnType<typeof readManifestDir>>["updates"];

export async function goldenNftState(name: string): Promise<DesiredState> {
  const { cfg, updates } = await goldenCaseConfig(name);
  return computeDesiredState(cfg, updates);
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
