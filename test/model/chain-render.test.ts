// The backend-neutral pieces: chain rendering through a RuleRenderer (memo
// of long chains per renderer and per context), structural rule equality,
// and the builder's checks.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IPTABLES_RULES } from "../../iptables/rule-render.js";
import { ChainRenderer, chainRenderer } from "../../model/chain-render.js";
import { Actions, match, NO_MATCH, parsePorts, type Rule, rule } from "../../model/rule.js";
import { sameRule } from "../../model/same-rule.js";
import { NFT_RULES } from "../../nftables/render.js";

/** A chain long enough for the memo (64 rules and more). */
const longChain = (): Rule[] =>
  Array.from({ length: 80 }, (_, i) => rule(match().sourceNet(`10.0.${i}.0/24`).build(), Actions.jump("cali-x")));

describe("ChainRenderer", () => {
  it("a remembered rendering is reused only in the context it was made for (nft chains are per table)", () => {
    const rules = longChain();
    const nft = new ChainRenderer(NFT_RULES);
    const filter = nft.renderRules("c", rules, { family: 4, table: "filter" });
    const nat = nft.renderRules("c", rules, { family: 4, table: "nat" });
    assert.match(filter[0].text, /jump filter-cali-x comment/);
    assert.match(nat[0].text, /jump nat-cali-x comment/);
    // Back in filter: rendered afresh (the memo held nat's), equal; then reused while the context stays.
    const again = nft.renderRules("c", rules, { family: 4, table: "filter" });
    assert.deepEqual(again, filter);
    assert.equal(
      nft.renderRules("c", rules, { family: 4, table: "filter" })[5],
      again[5],
      "reused in the same context",
    );
  });

  it("iptables renderings of a long chain are reused whatever the context (its text has none)", () => {
    const rules = longChain();
    const ipt = chainRenderer(IPTABLES_RULES);
    const a = ipt.renderRules("c", rules, { family: 4, table: "filter" });
    const b = ipt.renderRules("c", rules, { family: 6, table: "nat" });
    assert.equal(a[10], b[10]);
    assert.equal(a[0].text, `-s 10.0.0.0/24 -m comment --comment "cali:${a[0].hash}" -j cali-x`);
  });

  it("the same rules in another backend hash differently, and every hash in a chain is unique", () => {
    const rules = [rule(NO_MATCH, Actions.accept), rule(NO_MATCH, Actions.accept), rule(NO_MATCH, Actions.drop)];
    const ctx = { family: 4, table: "filter" } as const;
    const ipt = chainRenderer(IPTABLES_RULES).renderRules("c", rules, ctx);
    const nft = chainRenderer(NFT_RULES).renderRules("c", rules, ctx);
    assert.equal(new Set(ipt.map((r) => r.hash)).size, 3);
    assert.equal(new Set(nft.map((r) => r.hash)).size, 3);
    assert.notEqual(ipt[0].hash, nft[0].hash);
  });

  it("a one-id chain: the first rule's id covers every rule, the others are bare (iptables; nft keeps ids per rule)", () => {
    const ctx = { family: 4, table: "nat" } as const;
    const rules = [rule(NO_MATCH, Actions.accept), rule(NO_MATCH, Actions.accept), rule(NO_MATCH, Actions.return)];
    const one = (rs: readonly Rule[]) =>
      chainRenderer(IPTABLES_RULES).renderChain({ name: "c", rules: rs, oneId: true }, ctx);
    const a = one(rules);
    assert.deepEqual(
      a.rules.map((r) => r.text),
      [`-m comment --comment "cali:${a.rules[0].hash}" -j ACCEPT`, "-j ACCEPT", "-j RETURN"],
    );
    assert.equal(new Set(a.rules.map((r) => r.hash)).size, 3, "unique hashes (in-place edits rely on it)");
    // The last rule changed: the first rule's id changes with it.
    const b = one([...rules.slice(0, 2), rule(NO_MATCH, Actions.accept)]);
    assert.notEqual(b.rules[0].hash, a.rules[0].hash);
    const nft = chainRenderer(NFT_RULES).renderChain({ name: "c", rules, oneId: true }, ctx);
    assert.ok(nft.rules.every((r) => r.text.includes("comment")));
  });
});

describe("rule model", () => {
  it("sameRule compares structure, not identity", () => {
    const a = rule(match().protocol("tcp").destPorts("80,90:99").mark(1, 1, true).build(), Actions.jump("x"), "c");
    const b = rule(match().protocol("tcp").destPorts("80,90:99").mark(1, 1, true).build(), Actions.jump("x"), "c");
    assert.ok(sameRule(a, b));
    assert.ok(!sameRule(a, rule(a.match, Actions.jump("y"), "c")));
    assert.ok(!sameRule(a, rule(a.match, Actions.jump("x"))));
    assert.ok(
      !sameRule(
        a,
        rule(match().protocol("tcp").destPorts("80,90:98").mark(1, 1, true).build(), Actions.jump("x"), "c"),
      ),
    );
  });

  it("the builder refuses what it cannot type: bad ports, unknown conntrack states, odd probabilities", () => {
    assert.deepEqual(parsePorts("80,443:450"), [
      { first: 80, last: 80 },
      { first: 443, last: 450 },
    ]);
    assert.throws(() => parsePorts("80 -j ACCEPT"), /bad port list/);
    assert.throws(() => parsePorts("70000"), /bad port/);
    assert.throws(() => match().ctState("ESTABLISHED,BOGUS"), /unknown conntrack state/);
    assert.throws(() => match().randomOneOf(0), /not a positive integer/);
  });
});
