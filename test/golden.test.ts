// Golden-file tests: each directory under test/golden/ holds input manifests
// (input.yaml), the node to compute for (case.json) and the expected views of
// the resulting dataplane:
//
//   iptables-v4.txt, ipsets-v4.txt, routes.txt      always
//   iptables-v6.txt, ipsets-v6.txt                  when the case involves IPv6
//   problems.txt                                    when conversion reported problems
//   network.txt                                     when IP pools exist (tunnel devices, MTU)
//   nftables.txt                                    always: the same case in nftables mode (the nft
//                                                   renderer), as `felix-dump nftables` prints it: the
//                                                   ip table (and ip6 when the case involves IPv6),
//                                                   after `#` lines naming what nftables mode reports
//                                                   beyond the iptables mode's problems
//
// Expected files are generated, never written by hand:
//
//   UPDATE_GOLDEN=1 npm test      (writes into the source tree, test/golden/;
//                                  refused when CI is set)
//
// then review the diff. Every case also checks that the output does not
// depend on the order of the input updates.

import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { computeDesiredState } from "../calc-graph/calc-graph.js";
import type { DesiredState } from "../calc-graph/desired-state.js";
import { ipSetList } from "../model/ipset-shards.js";
import { NFT_RULES } from "../nftables/render.js";
import { renderNftTable } from "../nftables/table-text.js";
import { ipvsText } from "../src/dump/ipvs.js";
import { networkText } from "../src/dump/network.js";
import { ipsetsText, iptablesText, routesText } from "../src/dump/views.js";
import { caseNames, GOLDEN_DIR, goldenUpdate, loadGoldenCase } from "./golden-cases.js";

const UPDATE = goldenUpdate(process.env);
const MIN_CASES = 28;

const OUTPUT_FILES = [
  "iptables-v4.txt",
  "ipsets-v4.txt",
  "routes.txt",
  "iptables-v6.txt",
  "ipsets-v6.txt",
  "problems.txt",
  "network.txt",
  "ipvs.txt",
  "nftables.txt",
] as const;
type OutputFile = (typeof OUTPUT_FILES)[number];
type Outputs = Partial<Record<OutputFile, string>>;

/** True when IPv6 shows anywhere in what the node programs. */
function involvesV6(s: DesiredState): boolean {
  if (Object.values(s.endpoints).some((e) => e.ipv6Nets.length > 0)) return true;
  if (ipSetList(s.ipsets).some((x) => x.family === 6 && x.members.size > 0)) return true;
  if (Object.keys(s.routes).some((dst) => dst.includes(":"))) return true;
  return /(^| )(! )?-[sd] [0-9a-f]*:/m.test(iptablesText(s, 6));
}

/**
 * Conversion problems by resource: without source files (they depend on the
 * working directory) or lines (the manifest reader's business, not the graph's).
 */
function problemsText(s: DesiredState): string {
  return Object.values(s.problems)
    .map((p) => `${p.key}: ${p.message}\n`)
    .sort()
    .join("");
}

/** The case in nftables mode: our tables as nft -f input, after the problems only that mode has. */
function nftablesText(s: DesiredState, n: DesiredState): string {
  const extra = Object.values(n.problems)
    .filter((p) => s.problems[p.key]?.message !== p.message)
    .map((p) => `# ${p.key}: ${p.message}\n`)
    .sort()
    .join("");
  const v4 = renderNftTable("ip", n.iptables.ipv4, n.ipsets, n.nftObjects);
  const v6 = () => renderNftTable("ip6", n.iptables.ipv6, n.ipsets, n.nftObjects);
  return `${extra}${involvesV6(s) ? `${v4}\n${v6()}` : v4}`;
}

/**
 * FELIX_PROXYMODE=nftables exists only with the nftables dataplane: such a
 * case has no iptables views, only nftables.txt (and routes, problems).
 */
function renderNftOnly(s: DesiredState): Outputs {
  const out: Outputs = { "routes.txt": routesText(s) };
  const problems = problemsText(s);
  if (problems !== "") out["problems.txt"] = problems;
  if (s.network.poolsInUse) out["network.txt"] = networkText(s);
  return out;
}

function render(s: DesiredState): Outputs {
  const out: Outputs = {
    "iptables-v4.txt": iptablesText(s, 4),
    "ipsets-v4.txt": ipsetsText(s, 4),
    "routes.txt": routesText(s),
  };
  if (involvesV6(s)) {
    out["iptables-v6.txt"] = iptablesText(s, 6);
    out["ipsets-v6.txt"] = ipsetsText(s, 6);
  }
  const problems = problemsText(s);
  if (problems !== "") out["problems.txt"] = problems;
  if (s.network.poolsInUse) out["network.txt"] = networkText(s);
  if (s.ipvs) out["ipvs.txt"] = ipvsGoldenText(s);
  return out;
}

/** Every output, v6 included, for comparing runs of the graph. */
function renderAll(s: DesiredState): Record<string, string> {
  if (s.nftObjects) {
    // nftables proxy mode: the chain names are nft's (longer than iptables allows).
    return {
      nft4: renderNftTable("ip", s.iptables.ipv4, s.ipsets, s.nftObjects),
      nft6: renderNftTable("ip6", s.iptables.ipv6, s.ipsets, s.nftObjects),
      routes: routesText(s),
      problems: problemsText(s),
      network: networkText(s),
    };
  }
  return {
    iptables4: iptablesText(s, 4),
    iptables6: iptablesText(s, 6),
    ipsets4: ipsetsText(s, 4),
    ipsets6: ipsetsText(s, 6),
    routes: routesText(s),
    problems: problemsText(s),
    network: networkText(s),
    ipvs: s.ipvs ? ipvsGoldenText(s) : "",
  };
}

/** IPVS mode: the virtual servers as `ipvsadm -Ln` prints them, and the addresses bound to the dummy device. */
function ipvsGoldenText(s: DesiredState): string {
  const bound = s.ipvs?.boundAddresses ?? [];
  return `${ipvsText(s)}\n# bound to ${s.ipvs?.device}\n${bound.map((a) => `${a}\n`).join("")}`;
}

/** A fixed interleaving: odd positions first, then even ones, each reversed. */
function interleaved<T>(xs: readonly T[]): T[] {
  const odd = xs.filter((_, i) => i % 2 === 1).reverse();
  const even = xs.filter((_, i) => i % 2 === 0).reverse();
  return [...odd, ...even];
}

test(`golden: at least ${MIN_CASES} cases under test/golden/`, () => {
  const names = caseNames();
  assert.ok(names.length >= MIN_CASES, `only ${names.length} cases in ${GOLDEN_DIR}`);
  for (const n of names) {
    assert.ok(existsSync(join(GOLDEN_DIR, n, "input.yaml")), `${n}: no input.yaml`);
    assert.ok(existsSync(join(GOLDEN_DIR, n, "case.json")), `${n}: no case.json`);
  }
});

test("golden: UPDATE_GOLDEN=1 rewrites the files, except when CI is set: then it is refused", () => {
  assert.equal(goldenUpdate({}), false);
  assert.equal(goldenUpdate({ UPDATE_GOLDEN: "0" }), false);
  assert.equal(goldenUpdate({ UPDATE_GOLDEN: "1" }), true);
  assert.throws(() => goldenUpdate({ UPDATE_GOLDEN: "1", CI: "true" }), /UPDATE_GOLDEN=1 is refused when CI is set/);
  assert.equal(goldenUpdate({ CI: "true" }), false);
});

for (const name of caseNames()) {
  const dir = join(GOLDEN_DIR, name);
  test(`golden: ${name}`, async () => {
    const { updates, cfg, spec } = await loadGoldenCase(name);
    const nftOnly = spec.proxyMode === "nftables";

    const state = computeDesiredState(cfg, updates);
    const outputs = nftOnly ? renderNftOnly(state) : render(state);
    const nft = nftOnly ? state : computeDesiredState({ ...cfg, ruleRenderer: NFT_RULES }, updates);
    outputs["nftables.txt"] = nftablesText(state, nft);

    // Determinism: the same input, computed again and in other orders.
    const all = renderAll(state);
    assert.deepEqual(renderAll(computeDesiredState(cfg, updates)), all, `${name}: a second run differs`);
    assert.deepEqual(
      renderAll(computeDesiredState(cfg, [...updates].reverse())),
      all,
      `${name}: the output depends on the order of the updates (reversed)`,
    );
    assert.deepEqual(
      renderAll(computeDesiredState(cfg, interleaved(updates))),
      all,
      `${name}: the output depends on the order of the updates (interleaved)`,
    );

    if (UPDATE) {
      for (const f of OUTPUT_FILES) {
        const path = join(dir, f);
        const text = outputs[f];
        if (text !== undefined) writeFileSync(path, text);
        else if (existsSync(path)) rmSync(path);
      }
      return;
    }

    for (const f of OUTPUT_FILES) {
      const path = join(dir, f);
      const actual = outputs[f];
      const hint = "(regenerate with UPDATE_GOLDEN=1 npm test, then review the diff)";
      if (actual === undefined) {
        assert.ok(!existsSync(path), `${name}/${f} exists but the case no longer produces it ${hint}`);
        continue;
      }
      assert.ok(existsSync(path), `${name}/${f} is missing ${hint}`);
      assert.equal(actual, readFileSync(path, "utf8"), `${name}/${f} differs from the expected file ${hint}`);
    }
  });
}
