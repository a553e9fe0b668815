// Every golden case computed with the nft rule renderer and checked by the
// real nft: both families' rulesets (our table, its sets, every chain and
// rule) go through `nft -c -f` in a throwaway network namespace, where the
// kernel validates the whole transaction (expressions, jump targets, hooks)
// and then aborts it; then they are loaded for real and `nft list` must print
// every rule as we rendered it (found by its hash comment; counter values
// aside). Rules nft cannot express must fail the graph with
// NftUnsupportedError, never render as something else: the cases that need
// them are listed here with the reason (the graph leaves such a service out and
// reports it). The expected golden file of each case in nftables mode
// (test/golden/<case>/nftables.txt, our policy table `calico` and the nat
// tables `calico-nat`…) is loaded the same way, and each table's read-back
// (`nft -j list ruleset`, cut by table) holds exactly the desired chains, rule
// hashes and set elements of its part. One namespace serves every case: each
// load flushes the ruleset in its own transaction, so a case never sees the
// one before; per case that is three nft processes, not one per table.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { computeDesiredState } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { NFT_TABLES } from "../../nftables/names.js";
import { parseNftJson } from "../../nftables/view.js";
import { diffNftTable } from "../../src/dump/live-diff-nft.js";
import { caseNames, GOLDEN_DIR } from "../golden-cases.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, inNetns, netnsSkipReason } from "../routes/netns.js";
import { goldenCaseConfig, nftParts } from "./golden-state.js";
import { nftRuleset } from "./ruleset.js";
import { jsonTables, nftOut, textTables } from "./ruleset-listing.js";

const noNft = spawnSync("sh", ["-c", "command -v nft"]).status !== 0;
const skip = netnsSkipReason() ?? (noNft && "needs nft (nftables)");

/** Cases whose rules nft cannot express yet, and what the error names. */
const INEXPRESSIBLE: Readonly<Record<string, RegExp>> = {
  "svc-ipv6": /session affinity \(xt_recent/,
  "svc-session-affinity": /session affinity \(xt_recent/,
};

let ns = "";
let prefix: string[] = [];
let dir = "";
before(() => {
  if (skip) return;
  ns = createNetns("nftgold");
  prefix = inNetns(ns);
  dir = mkdtempSync(join(tmpdir(), "nftgold-"));
});
after(() => {
  if (ns) deleteNetns(ns);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * `nft [-c] -f` of `text` in the namespace after `flush ruleset` in the same transaction: what a case
 * before left is not there for the check or the load (the namespace is ours and holds nothing else).
 * Exit status and stderr.
 */
function nftFile(text: string, name: string, check = true): { status: number | null; stderr: string } {
  const file = join(dir, `${name}.nft`);
  writeFileSync(file, `flush ruleset\n${text}`);
  const [cmd, ...rest] = [...prefix, "nft", ...(check ? ["-c"] : []), "-f", file];
  const r = spawnSync(cmd!, rest, { encoding: "utf8" });
  return { status: r.status, stderr: r.stderr };
}
const nftCheck = (text: string, name: string) => nftFile(text, name);
const nftLoad = (text: string, name: string) => nftFile(text, name, false);

/**
 * Rules as `nft list ruleset` prints them back, by `<family> <table> <chain> <hash>`: hashes are
 * per chain (the same chain in two tables hashes alike). Counter values dropped.
 */
function listedRules(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [table, text] of textTables(nftOut(prefix, ["list", "ruleset"]))) {
    let chain = "";
    for (const line of text.split("\n")) {
      const c = /^\s*chain (\S+) \{$/.exec(line);
      if (c) chain = c[1]!;
      const m = / comment "cali:([A-Za-z0-9_-]+)"$/.exec(line);
      if (m) {
        const rule = line.trim().replace(/(^| )counter packets \d+ bytes \d+/, "$1counter");
        out.set(`${table} ${chain} ${m[1]}`, rule);
      }
    }
  }
  return out;
}

/** A case's desired state, computed once for both of its tests (the graph is pure). */
const states = new Map<string, DesiredState>();
async function caseState(name: string): Promise<DesiredState> {
  let s = states.get(name);
  if (!s) {
    const { cfg, updates } = await goldenCaseConfig(name);
    s = computeDesiredState(cfg, updates);
    states.set(name, s);
  }
  return s;
}

test("nft check: a ruleset with a jump to a missing chain is refused (the check can fail)", skipIf(skip), async () => {
  const { text } = nftRuleset(await caseState("allow-all-ingress"), 4);
  const broken = text.replace(/jump filter-cali-([^ ]+)/, "jump filter-cali-missing-chain");
  assert.notEqual(broken, text);
  assert.notEqual(nftCheck(broken, "broken").status, 0);
});

// Each case: one `nft -c -f` and one `nft -f` holding both families, one listing of the ruleset.
for (const name of caseNames()) {
  test(`nft check: golden case ${name}`, skipIf(skip), async () => {
    const unsupported = INEXPRESSIBLE[name];
    const state = await caseState(name);
    if (unsupported) {
      // The service is left out whole and reported; the rest of the case is checked as any other.
      const p = Object.values(state.problems).find((x) => x.key.endsWith("/dataplane"));
      assert.ok(p && unsupported.test(p.message), `${name}: no dataplane problem names it`);
    }
    const texts: string[] = [];
    const ours: string[] = [];
    for (const v of [4, 6] as const) {
      const { text, rules } = nftRuleset(state, v);
      if (v === 4) assert.ok(rules > 0, `${name}: no IPv4 rules`);
      for (const line of text.split("\n").filter((l) => l.startsWith("add rule"))) {
        assert.match(line, / comment "cali:[A-Za-z0-9_-]{16}"$/, `${name}: a rule without its hash comment: ${line}`);
        ours.push(line);
      }
      texts.push(text);
    }
    const text = texts.join("");
    const r = nftCheck(text, name);
    assert.equal(r.status, 0, `${name}: nft -c refused the ruleset:\n${r.stderr}`);

    // For real, then read back: what nft lists is what we rendered.
    const load = nftLoad(text, name);
    assert.equal(load.status, 0, `${name}: nft -f refused the ruleset:\n${load.stderr}`);
    const listed = listedRules();
    assert.equal(listed.size, ours.length, `${name}: rules listed`);
    for (const line of ours) {
      // add rule <family> <table> <chain> <rule…>
      const words = line.split(" ");
      const rule = words.slice(5).join(" ");
      const hash = / comment "cali:([A-Za-z0-9_-]+)"$/.exec(rule)![1];
      const where = `${words[2]} ${words[3]} ${words[4]}`;
      assert.equal(listed.get(`${where} ${hash}`), rule, `${name} ${where}: nft lists the rule otherwise`);
    }
  });
}

for (const name of caseNames()) {
  test(`nft -f: golden file ${name}/nftables.txt loads and reads back as desired`, skipIf(skip), async () => {
    const text = readFileSync(join(GOLDEN_DIR, name, "nftables.txt"), "utf8");
    const state = await caseState(name);
    const check = nftCheck(text, `${name}-golden`);
    assert.equal(check.status, 0, `${name}: nft -c refused the golden file:\n${check.stderr}`);
    const load = nftLoad(text, `${name}-golden`);
    assert.equal(load.status, 0, `${name}: nft -f refused the golden file:\n${load.stderr}`);
    const listed = jsonTables(nftOut(prefix, ["-j", "list", "ruleset"]));
    const families = /^table ip6 calico(-nat)? \{/m.test(text) ? (["ip", "ip6"] as const) : (["ip"] as const);
    // Nothing but our tables of the families the file holds.
    const expected = new Set(families.flatMap((f) => NFT_TABLES.map((t) => `${f} ${t}`)));
    for (const t of listed.keys()) assert.ok(expected.has(t), `${name}: the golden file made table ${t}`);
    for (const f of families) {
      for (const { table, desired } of nftParts(state, f)) {
        const listing = listed.get(`${f} ${table}`);
        const view = listing === undefined ? null : parseNftJson(listing);
        assert.deepEqual(diffNftTable(desired, f, table, view), [], `${name} ${f} ${table}: read back otherwise`);
      }
    }
  });
}
