// Where the golden cases live (in the source tree, also when run from dist/),
// and one case loaded: its case.json, its manifests, the graph config it asks for.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { GraphConfig } from "../calc-graph/calc-graph.js";
import { PROXY_MODES, type ProxyMode } from "../calc-graph/services/model.js";
import type { ResourceUpdate } from "../model/resource.js";
import { NFT_RULES } from "../nftables/render.js";
import { graphConfigFromEnv } from "../src/config.js";
import { readManifestDir } from "../src/datastore/manifests.js";

/** The repository root: the first ancestor of this file holding package.json (dist/ has none). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const GOLDEN_DIR = join(repoRoot(), "test", "golden");

/** The case directories' names, sorted. */
export function caseNames(): string[] {
  if (!existsSync(GOLDEN_DIR)) return [];
  return readdirSync(GOLDEN_DIR)
    .filter((n) => statSync(join(GOLDEN_DIR, n)).isDirectory())
    .sort();
}

/**
 * Whether this run rewrites the expected files (UPDATE_GOLDEN=1) instead of
 * comparing with them. Refused when CI is set: a CI run that regenerated the
 * files would compare the output with itself and could never fail.
 */
export function goldenUpdate(env: NodeJS.ProcessEnv): boolean {
  if (env.UPDATE_GOLDEN !== "1") return false;
  if (env.CI)
    throw new Error(`UPDATE_GOLDEN=1 is refused when CI is set (CI=${env.CI}): golden files are compared in CI`);
  return true;
}

/** A case's case.json. */
export interface GoldenCaseSpec {
  readonly node: string;
  readonly description: string;
  /** FELIX_PROXYMODE for the case (default off). */
  readonly proxyMode?: ProxyMode;
  /** Further FELIX_* settings, read as the agent reads its environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** kube-proxy's kube-ipvs0 is present (the agent's start-up check). */
  readonly kubeIPVSDevice?: boolean;
}

export interface GoldenCase {
  readonly name: string;
  readonly dir: string;
  readonly spec: GoldenCaseSpec;
  /** The manifests' updates; they parse cleanly (asserted). */
  readonly updates: ResourceUpdate[];
  /** The graph config the case asks for (iptables rules unless the case is nft-only: callers add another ruleRenderer). */
  readonly cfg: GraphConfig;
}

/** Loads one case, asserting that case.json is well formed and the manifests parse cleanly. */
export async function loadGoldenCase(name: string): Promise<GoldenCase> {
  const dir = join(GOLDEN_DIR, name);
  const spec = JSON.parse(readFileSync(join(dir, "case.json"), "utf8")) as GoldenCaseSpec;
  assert.equal(typeof spec.node, "string", `${dir}/case.json: "node" must be a string`);
  assert.equal(typeof spec.description, "string", `${dir}/case.json: "description" must be a string`);
  assert.ok(spec.description.length > 0, `${dir}/case.json: "description" is empty`);
  if (spec.proxyMode !== undefined) {
    assert.ok(PROXY_MODES.includes(spec.proxyMode), `${dir}/case.json: "proxyMode" must be one of ${PROXY_MODES}`);
  }
  assert.ok(existsSync(join(dir, "input.yaml")), `${dir}: no input.yaml`);
  const parsed = await readManifestDir(dir);
  // case.json sits next to the manifests and is read as one; it has no kind.
  const problems = parsed.problems.filter((p) => basename(p.file) !== "case.json");
  assert.deepEqual(problems, [], `${dir}: input manifests do not parse cleanly`);
  assert.ok(parsed.updates.length > 0, `${dir}: input.yaml holds no resources`);
  const base: GraphConfig = spec.env
    ? graphConfigFromEnv(spec.node, { ...spec.env, ...(spec.proxyMode ? { FELIX_PROXYMODE: spec.proxyMode } : {}) })
    : { nodeName: spec.node, proxyMode: spec.proxyMode };
  const withIpvs = spec.kubeIPVSDevice ? { ...base, kubeIPVSSupport: true } : base;
  // kube-proxy's nftables layout exists only as nft rules.
  const cfg = spec.proxyMode === "nftables" ? { ...withIpvs, ruleRenderer: NFT_RULES } : withIpvs;
  return { name, dir, spec, updates: parsed.updates, cfg };
}
