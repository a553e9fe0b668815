// The nft rule renderer: exact statements for each kind of match and action
// (nft's own listing forms, Felix's felix/nftables renderings), the hash
// comment contract of nftables/README.md, and clear errors for what nft
// cannot express.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Actions, match, NO_MATCH, type Rule, rule, uncountedRule } from "../../model/rule.js";
import type { RuleContext } from "../../model/rule-renderer.js";
import { NFT_RULES, NftUnsupportedError, nftRenderedRule, nftRuleBody } from "../../nftables/render.js";

const V4: RuleContext = { family: 4, table: "filter" };
const V6: RuleContext = { family: 6, table: "filter" };
const NAT4: RuleContext = { family: 4, table: "nat" };
const body = (r: Rule, ctx = V4) => nftRuleBody(r, ctx);

describe("nft rule bodies", () => {
  it("basic matches: nets with negation, interface wildcards, protocol", () => {
    const m = match().sourceNet("10.0.0.0/8").destNet("10.1.0.0/16", true).inInterface("cali+").outInterface("eth0");
    assert.equal(
      body(rule(m.protocol("tcp").build(), Actions.accept)),
      'ip saddr 10.0.0.0/8 ip daddr != 10.1.0.0/16 iifname "cali*" oifname "eth0" meta l4proto tcp counter accept',
    );
    assert.equal(
      body(rule(match().sourceNet("fd00::/64").build(), Actions.drop), V6),
      "ip6 saddr fd00::/64 counter drop",
    );
  });

  it("ip sets by direction, with negation, named port and ip,port,ip sets", () => {
    const r = rule(
      match()
        .ipSet("cali40s:abc", "src")
        .ipSet("cali40n:def", "dst,dst")
        .ipSet("cali40x", "dst", true)
        .ipSet("cali40lb", "dst,dst,src")
        .build(),
      Actions.return,
    );
    assert.equal(
      body(r),
      "ip saddr @cali40s.abc ip daddr . meta l4proto . th dport @cali40n.def ip daddr != @cali40x " +
        "ip daddr . meta l4proto . th dport . ip saddr @cali40lb counter return",
    );
  });

  it("ports: multiport lists and ranges, single ports, on the rule's protocol", () => {
    assert.equal(
      body(rule(match().protocol("tcp").destPorts("80,443:450").build(), Actions.accept)),
      "tcp dport { 80, 443-450 } counter accept",
    );
    assert.equal(
      body(rule(match().protocol("udp").destPorts("53").build(), Actions.accept)),
      "udp dport 53 counter accept",
    );
    assert.equal(
      body(rule(match().protocol("udp").destPort("udp", 4789).build(), Actions.notrack)),
      "udp dport 4789 counter notrack",
    );
  });

  it("the forms nft lists: protocol implied by ports, hosts without /32, marks with a prefix mask", () => {
    assert.equal(
      body(rule(match().protocol("tcp").ipSet("cali40n:x", "dst,dst").build(), Actions.accept)),
      "ip daddr . meta l4proto . tcp dport @cali40n.x counter accept",
    );
    assert.equal(body(rule(match().protocol("tcp").build(), Actions.accept)), "meta l4proto tcp counter accept");
    assert.equal(body(rule(match().destNet("10.0.0.1/32").build(), Actions.drop)), "ip daddr 10.0.0.1 counter drop");
    assert.equal(
      body(rule(match().destNet("::1/128", true).build(), Actions.drop), V6),
      "ip6 daddr != ::1 counter drop",
    );
    assert.equal(
      body(rule(match().mark(0xc7800000, 0xff800000).build(), Actions.drop)),
      "meta mark 0xc7800000/9 counter drop",
    );
    assert.equal(
      body(rule(match().mark(0, 0xff800000, true).build(), Actions.drop)),
      "meta mark != 0x00000000/9 counter drop",
    );
  });

  it("marks, conntrack states in nft's order, addrtype, icmpv6, rpfilter, random", () => {
    assert.equal(
      body(
        rule(
          match().mark(0x10000, 0x10000).mark(0, 0x20000, true).ctState("RELATED,ESTABLISHED").build(),
          Actions.drop,
        ),
      ),
      "meta mark & 0x00010000 == 0x00010000 meta mark & 0x00020000 != 0x00000000 ct state established,related counter drop",
    );
    assert.equal(
      body(
        rule(
          match().outInterface("vxlan.calico").srcAddrTypeLocal(true, true).srcAddrTypeLocal().build(),
          Actions.masquerade(),
        ),
      ),
      'oifname "vxlan.calico" fib saddr . oif type != local fib saddr type local counter masquerade',
    );
    assert.equal(
      body(rule(match().destAddrTypeLocal().build(), Actions.accept)),
      "fib daddr type local counter accept",
    );
    assert.equal(
      body(rule(match().protocol("ipv6-icmp").icmpv6Type(135).build(), Actions.accept), V6),
      "icmpv6 type nd-neighbor-solicit counter accept",
    );
    assert.equal(body(rule(match().rpfFailed().build(), Actions.drop)), "fib saddr . mark . iif oif 0 counter drop");
    assert.equal(
      body(rule(match().randomOneOf(3).build(), Actions.jump("cali-SEP-X")), NAT4),
      "numgen random mod 3 0 counter jump nat-cali-SEP-X",
    );
  });

  it("actions: chains within the table, marks as mark arithmetic, reject, NAT, no target", () => {
    assert.equal(body(rule(NO_MATCH, Actions.goto("cali-fw-x"))), "counter goto filter-cali-fw-x");
    assert.equal(body(rule(NO_MATCH, Actions.setMark(0x10000))), "counter meta mark set meta mark | 0x00010000");
    assert.equal(body(rule(NO_MATCH, Actions.clearMark(0x30000))), "counter meta mark set meta mark & 0xfffcffff");
    assert.equal(
      body(rule(NO_MATCH, Actions.setMaskedMark(0x800000, 0xff800000))),
      "counter meta mark set meta mark & 0x00ffffff | 0x00800000",
    );
    assert.equal(body(rule(NO_MATCH, Actions.reject(4))), "counter reject");
    assert.equal(
      body(
        rule(
          match().protocol("udp").build(),
          Actions.masquerade({ toPorts: { first: 1024, last: 4788 }, randomFully: true }),
        ),
        NAT4,
      ),
      "meta l4proto udp counter masquerade to :1024-4788 fully-random",
    );
    assert.equal(
      body(
        rule(match().protocol("tcp").build(), Actions.snat("192.0.2.1", { toPorts: { first: 100, last: 200 } })),
        NAT4,
      ),
      "meta l4proto tcp counter snat to 192.0.2.1:100-200",
    );
    assert.equal(
      body(rule(match().protocol("tcp").build(), Actions.dnat("fd00::1", 8080)), { family: 6, table: "nat" }),
      "meta l4proto tcp counter dnat to [fd00::1]:8080",
    );
    // A rule without a target is only a counter; every other one counts before its action, as Felix renders it.
    assert.equal(body(rule(NO_MATCH, Actions.none)), "counter");
    // kube-proxy's dispatch statements carry none, as kube-proxy renders them.
    assert.equal(
      body(rule(NO_MATCH, Actions.vmap("daddr.proto.dport", "service-ips")), NAT4),
      "ip daddr . meta l4proto . th dport vmap @service-ips",
    );
    assert.equal(
      body(rule(NO_MATCH, Actions.randomGoto(["a", "b"])), NAT4),
      "numgen random mod 2 vmap { 0 : goto nat-a, 1 : goto nat-b }",
    );
    assert.equal(body(rule(NO_MATCH, Actions.setUpdate("affinity-x")), NAT4), "update @affinity-x { ip saddr }");
    // And so do the rest of kube-proxy's rules (built with uncountedRule).
    assert.equal(
      body(uncountedRule(match().protocol("tcp").build(), Actions.dnat("10.0.0.1", 80)), NAT4),
      "meta l4proto tcp dnat to 10.0.0.1:80",
    );
  });
});

describe("nft hash comment", () => {
  it("the text ends in the hash comment and the hash is a slice of it", () => {
    const r = rule(match().protocol("tcp").build(), Actions.accept, "a comment nft has no room for");
    const b = NFT_RULES.body(r, V4);
    const out = NFT_RULES.rendered(r, b, "abcdefghijklmnop", V4);
    assert.equal(out.text, 'meta l4proto tcp counter accept comment "cali:abcdefghijklmnop"');
    assert.equal(out.hash, "abcdefghijklmnop");
    assert.equal(nftRenderedRule("", "abcdefghijklmnop").text, 'comment "cali:abcdefghijklmnop"');
  });
});

describe("what nft cannot express (or hostile text) throws, never renders", () => {
  const unsupported = (r: Rule, ctx: RuleContext, re: RegExp) =>
    assert.throws(
      () => nftRuleBody(r, ctx),
      (e: unknown) => e instanceof NftUnsupportedError && re.test(e.message),
    );

  it("session affinity (xt_recent)", () => {
    unsupported(
      rule(match().recentCheck("cali-SEP-X", 10800, 4).build(), Actions.jump("cali-SEP-X")),
      NAT4,
      /xt_recent --rcheck/,
    );
    unsupported(rule(match().recentSet("cali-SEP-X", 6).build(), Actions.dnat("fd00::1", 80)), NAT4, /xt_recent --set/);
  });

  it("an address of the other family, an ICMPv6 type in the ip table", () => {
    unsupported(
      rule(match().sourceNet("fd00::/64").build(), Actions.drop),
      V4,
      /IPv6 address \(fd00::\/64\) in the ip table/,
    );
    unsupported(rule(match().protocol("ipv6-icmp").icmpv6Type(135).build(), Actions.accept), V4, /ICMPv6 type/);
  });

  it("ports without a port protocol; hostile interface names", () => {
    unsupported(rule(match().destPorts("80").build(), Actions.accept), V4, /port match without a protocol/);
    unsupported(rule(NO_MATCH, Actions.masquerade({ toPorts: { first: 1, last: 2 } })), NAT4, /MASQUERADE to ports/);
    unsupported(rule(NO_MATCH, Actions.dnat("10.0.0.1", 80)), NAT4, /DNAT to a port/);
    unsupported(rule(match().inInterface('cali"; flush ruleset').build(), Actions.drop), V4, /interface name/);
    unsupported(rule(match().sourceNet("10.0.0.0/8 accept").build(), Actions.drop), V4, /address "10.0.0.0\/8 accept"/);
    unsupported(rule(match().protocol("tcp").build(), Actions.dnat("10.0.0.1; drop", 80)), NAT4, /address/);
  });
});

describe("nft rule bodies: Calico's rule fields", () => {
  it("notProtocol, negated and source port lists", () => {
    assert.equal(body(rule(match().protocol("udp", true).build(), Actions.drop)), "meta l4proto != udp counter drop");
    const ports = match().protocol("udp").sourcePorts("53,1000:2000").destPorts("100:110,120", true).build();
    assert.equal(
      body(rule(ports, Actions.drop)),
      "udp sport { 53, 1000-2000 } udp dport != { 100-110, 120 } counter drop",
    );
  });

  it("ICMP and ICMPv6 types and codes by nft's names; a negated type with code as a concatenation", () => {
    const icmp = (family: 4 | 6, type: number, code?: number, negate = false) =>
      body(
        rule(
          match()
            .protocol(family === 4 ? "icmp" : "ipv6-icmp")
            .icmpType(family, type, code, negate)
            .build(),
          Actions.accept,
        ),
        family === 4 ? V4 : V6,
      );
    assert.equal(icmp(4, 8, 0), "icmp type echo-request icmp code net-unreachable counter accept");
    assert.equal(icmp(4, 3, undefined, true), "icmp type != destination-unreachable counter accept");
    assert.equal(icmp(4, 200, 7), "icmp type 200 icmp code 7 counter accept");
    assert.equal(
      icmp(6, 1, 4, true),
      "icmpv6 type . icmpv6 code != { destination-unreachable . port-unreachable } counter accept",
    );
    assert.throws(
      () => body(rule(match().icmpType(6, 128).build(), Actions.accept), V4),
      NftUnsupportedError,
      "an ICMPv6 type in the ip table",
    );
  });

  it("LOG as nft's log statement at level notice; a prefix nft's quotes cannot hold is refused", () => {
    assert.equal(
      body(rule(match().protocol("tcp").build(), Actions.log("calico-packet"))),
      'meta l4proto tcp counter log prefix "calico-packet: " level notice',
    );
    assert.throws(() => body(rule(NO_MATCH, Actions.log('x" accept'))), NftUnsupportedError);
  });
});
