// `felix-dump hits --live`'s mapping from kernel counters to policy rules, in
// both dataplanes: the same counts on the same rendered positions give the same
// origins from iptables-save -c lines and from our nft table's rule counters;
// an nft rule whose hash is not the rendered one at its position (a stale or
// foreign rule), a rule without a counter, and other tables' chains count for
// nothing. (The kernel side: test/e2e/drops.test.ts, in both modes.)

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { familyKey } from "../../../calc-graph/desired-state.js";
import { IPTABLES_RULES } from "../../../iptables/rule-render.js";
import type { RuleRenderer } from "../../../model/rule-renderer.js";
import { chainList } from "../../../model/tables.js";
import type { RuleCounter } from "../../../nftables/counters.js";
import { NFT_RULES } from "../../../nftables/render.js";
import { readManifestDir } from "../../../src/datastore/manifests.js";
import { countHits, countNftHits, type HitCount } from "../../../src/dump/hits-command.js";
import { type NodeView, nodeView } from "../../../trace/node-view.js";
import { GOLDEN_DIR } from "../../golden-cases.js";

async function view(renderer: RuleRenderer): Promise<NodeView> {
  const { updates } = await readManifestDir(join(GOLDEN_DIR, "calico-tiers-pass-deny"));
  return nodeView({ nodeName: "node1", proxyMode: "iptables" }, updates, renderer, ["192.168.0.1"]);
}

/** A count for every rule of every filter chain: chain name length × 1000 + position (distinct, deterministic). */
const countAt = (chain: string, index: number) => chain.length * 1000 + index;

function nftCounters(v: NodeView): RuleCounter[] {
  const out: RuleCounter[] = [];
  for (const c of chainList(v.state.iptables[familyKey(4)].filter)) {
    c.rules.forEach((r, i) => {
      const n = countAt(c.name, i + 1);
      out.push({ chain: `filter-${c.name}`, hash: r.hash, packets: n, bytes: n * 60 });
    });
  }
  return out;
}

function iptablesSave(v: NodeView): string {
  const lines: string[] = ["*filter"];
  for (const c of chainList(v.state.iptables[familyKey(4)].filter)) {
    c.rules.forEach((r, i) => {
      const n = countAt(c.name, i + 1);
      lines.push(`[${n}:${n * 60}] -A ${c.name} ${r.text}`);
    });
  }
  return `${lines.join("\n")}\nCOMMIT\n`;
}

const total = (hits: readonly HitCount[]) => hits.reduce((s, h) => s + h.packets, 0);

describe("hits --live: kernel counters to policy rules", () => {
  it("the same counts give the same origins from iptables-save -c and from the nft table's counters", async () => {
    const [ipt, nft] = [await view(IPTABLES_RULES), await view(NFT_RULES)];
    const a = countHits(ipt, iptablesSave(ipt), 4);
    const b = countNftHits(nft, nftCounters(nft), 4);
    assert.ok(
      a.some((h) => h.origin.kind === "policy"),
      JSON.stringify(a),
    );
    assert.ok(
      a.some((h) => h.origin.kind === "endpoint"),
      "a tier end",
    );
    assert.deepEqual(b, a);
  });

  it("an nft rule not ours as rendered at its position, one without a counter, other tables: not counted", async () => {
    const nft = await view(NFT_RULES);
    const all = nftCounters(nft);
    const full = countNftHits(nft, all, 4);
    const denyAt = all.findIndex((c) => c.chain.startsWith("filter-cali-pi-") && c.packets !== undefined);
    const victim = full.find((h) => h.rules.includes(`${all[denyAt].chain.slice(7)}#1`));
    assert.ok(victim, "the first policy rule counts when its hash is the rendered one");
    const before = victim.packets;
    const wrongHash = all.map((c, i) => (i === denyAt ? { ...c, hash: "notTheRendered1" } : c));
    const noCounter = all.map((c, i) => (i === denyAt ? { ...c, packets: undefined, bytes: undefined } : c));
    const minus = all[denyAt].packets as number;
    for (const changed of [wrongHash, noCounter]) {
      const hits = countNftHits(nft, changed, 4);
      assert.equal(total(hits), total(full) - minus);
      const same: HitCount | undefined = hits.find((h) => JSON.stringify(h.origin) === JSON.stringify(victim.origin));
      assert.equal(same?.packets ?? 0, before - minus);
    }
    // Another table's chains of the same names (say raw-, nat-) and foreign rules count for nothing.
    const foreign = all.map((c) => ({ ...c, chain: c.chain.replace(/^filter-/, "raw-") }));
    assert.deepEqual(countNftHits(nft, foreign, 4), []);
    assert.deepEqual(
      countNftHits(nft, [...all, { chain: all[denyAt].chain, hash: undefined, packets: 9, bytes: 9 }], 4),
      full,
    );
  });
});
