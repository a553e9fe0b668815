// Every golden case computed with the nft rule renderer and checked by the
// real nft: each family's ruleset (our table, its sets, every chain and rule)
// goes through `nft -c -f` in a throwaway network namespace, where the kernel
// validates the whole transaction (expressions, jump targets, hooks) and then
// aborts it; then it is loaded for real and `nft list` must print every rule
// as we rendered it (found by its hash comment; counter values aside). Rules nft cannot express must fail the graph with
// NftUnsupportedError, never render as something else: the cases that need
// them are listed here with the reason (the graph leaves such a service out and
// reports it). The expected golden file of each case in nftables mode
// (test/golden/<case>/nftables.txt, our tables `calico` and `calico-nat`) is
// loaded the same way, and each table's read-back (`nft -j list table`) holds
// exactly the desired chains, rule hashes and set elements of its part.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { computeDesiredState } from "../../calc-graph/calc-graph.js";
import { NFT_TABLE, NFT_TABLES } from "../../nftables/names.js";
import { parseNftJson } from "../../nftables/view.js";
import { diffNftTable } from "../../src/dump/live-diff-nft.js";
import { caseNames, GOLDEN_DIR } from "../golden-cases.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";
import { goldenCaseConfig, nftParts } from "./golden-state.js";
import { nftRuleset } from "./ruleset.js";

const noNft = spawnSync("sh", ["-c", "command -v nft"]).status !== 0;
const skip = netnsSkipReason() ?? (noNft && "needs nft (nftables)");

/** Cases whose rules nft cannot express yet, and what the error names. */
const INEXPRESSIBLE: Readonly<Record<string, RegExp>> = {
  "svc-ipv6": /session affinity \(xt_recent/,
  "svc-session-affinity": /session affinity \(xt_recent/,
};

let ns = "";
let dir = "";
before(() => {
  if (skip) return;
  ns = createNetns("nftgold");
  dir = mkdtempSync(join(tmpdir(), "nftgold-"));
});
after(() => {
  if (ns) deleteNetns(ns);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `nft [-c] -f` of a file in the namespace: exit status and stderr. */
function nftFile(text: string, name: string, check = true): { status: number | null; stderr: string } {
  const file = join(dir, `${name}.nft`);
  writeFileSync(file, text);
  const r = spawnSync("ip", ["netns", "exec", ns, "nft", ...(check ? ["-c"] : []), "-f", file], { encoding: "utf8" });
  return { status: r.status, stderr: r.stderr };
}
const nftCheck = (text: string, name: string) => nftFile(text, name);

const nft = (...args: string[]) => spawnSync("ip", ["netns", "exec", ns, "nft", ...args], { encoding: "utf8" });

/** Our rules as `nft list` prints them back, by hash (counter values dropped). */
/** Listed rules by `<chain> <hash>`: hashes are per chain (the same chain in two tables hashes alike). */
function listedRules(family: "ip" | "ip6"): Map<string, string> {
  const out = new Map<string, string>();
  const listing = nft("list", "table", family, NFT_TABLE);
  assert.equal(listing.status, 0, listing.stderr);
  let chain = "";
  for (const line of listing.stdout.split("\n")) {
    const c = /^\s*chain (\S+) \{$/.exec(line);
    if (c) chain = c[1];
    const m = / comment "cali:([A-Za-z0-9_-]+)"$/.exec(line);
    if (m) out.set(`${chain} ${m[1]}`, line.trim().replace(/(^| )counter packets \d+ bytes \d+/, "$1counter"));
  }
  return out;
}

const caseConfig = goldenCaseConfig;

test("nft check: a ruleset with a jump to a missing chain is refused (the check can fail)", skipIf(skip), async () => {
  const { cfg, updates } = await caseConfig("allow-all-ingress");
  const { text } = nftRuleset(computeDesiredState(cfg, updates), 4);
  const broken = text.replace(/jump filter-cali-([^ ]+)/, "jump filter-cali-missing-chain");
  assert.notEqual(broken, text);
  assert.notEqual(nftCheck(broken, "broken").status, 0);
});

for (const name of caseNames()) {
  test(`nft check: golden case ${name}`, skipIf(skip), async () => {
    const { cfg, updates } = await caseConfig(name);
    const unsupported = INEXPRESSIBLE[name];
    const state = computeDesiredState(cfg, updates);
    if (unsupported) {
      // The service is left out whole and reported; the rest of the case is checked as any other.
      const p = Object.values(state.problems).find((x) => x.key.endsWith("/dataplane"));
      assert.ok(p && unsupported.test(p.message), `${name}: no dataplane problem names it`);
    }
    for (const v of [4, 6] as const) {
      const { text, rules } = nftRuleset(state, v);
      if (v === 4) assert.ok(rules > 0, `${name}: no IPv4 rules`);
      for (const line of text.split("\n").filter((l) => l.startsWith("add rule"))) {
        assert.match(line, / comment "cali:[A-Za-z0-9_-]{16}"$/, `${name}: a rule without its hash comment: ${line}`);
      }
      const r = nftCheck(text, `${name}-v${v}`);
      assert.equal(r.status, 0, `${name} IPv${v}: nft -c refused the ruleset:\n${r.stderr}`);

      // For real, then read back: what nft lists is what we rendered.
      const family = v === 4 ? "ip" : "ip6";
      nft("delete", "table", family, NFT_TABLE);
      const load = nftFile(text, `${name}-v${v}`, false);
      assert.equal(load.status, 0, `${name} IPv${v}: nft -f refused the ruleset:\n${load.stderr}`);
      const listed = listedRules(family);
      const ours = text.split("\n").filter((l) => l.startsWith("add rule"));
      assert.equal(listed.size, ours.length, `${name} IPv${v}: rules listed`);
      for (const line of ours) {
        const rule = line.split(" ").slice(5).join(" ");
        const hash = / comment "cali:([A-Za-z0-9_-]+)"$/.exec(rule)![1];
        assert.equal(
          listed.get(`${line.split(" ")[4]} ${hash}`),
          rule,
          `${name} IPv${v}: nft lists the rule otherwise`,
        );
      }
      nft("delete", "table", family, NFT_TABLE);
    }
  });
}

for (const name of caseNames()) {
  test(`nft -f: golden file ${name}/nftables.txt loads and reads back as desired`, skipIf(skip), async () => {
    const text = readFileSync(join(GOLDEN_DIR, name, "nftables.txt"), "utf8");
    const { cfg, updates } = await caseConfig(name);
    const state = computeDesiredState(cfg, updates);
    const check = nftCheck(text, `${name}-golden`);
    assert.equal(check.status, 0, `${name}: nft -c refused the golden file:\n${check.stderr}`);
    const families = /^table ip6 calico(-nat)? \{/m.test(text) ? (["ip", "ip6"] as const) : (["ip"] as const);
    for (const f of families) for (const t of NFT_TABLES) nft("delete", "table", f, t);
    const load = nftFile(text, `${name}-golden`, false);
    assert.equal(load.status, 0, `${name}: nft -f refused the golden file:\n${load.stderr}`);
    for (const f of families) {
      for (const { table, desired } of nftParts(state, f)) {
        const listing = nft("-j", "list", "table", f, table);
        const view = listing.status === 0 ? parseNftJson(listing.stdout) : null;
        assert.deepEqual(diffNftTable(desired, f, table, view), [], `${name} ${f} ${table}: read back otherwise`);
        nft("delete", "table", f, table);
      }
    }
  });
}
