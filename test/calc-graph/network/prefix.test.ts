// Prefix.contains against a plain numeric reference: random IPv4 prefixes (any
// length) and addresses or CIDRs near and far from them, plus IPv6 text; the
// leading-octets shortcut never changes an answer.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Prefix } from "../../../calc-graph/network/prefix.js";

const text = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
const netOf = (n: number, len: number) => (len === 0 ? 0 : Math.floor(n / 2 ** (32 - len)) * 2 ** (32 - len));

/** Inside when at least as long and the same network at the prefix's length. */
function reference(prefix: number, plen: number, addr: number, alen: number): boolean {
  return alen >= plen && netOf(addr, plen) === netOf(prefix, plen);
}

test("Prefix.contains agrees with a numeric reference on IPv4 (addresses and CIDRs)", () => {
  const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
  const len = fc.integer({ min: 0, max: 32 });
  fc.assert(
    fc.property(u32, len, u32, len, fc.integer({ min: 0, max: 2 }), fc.boolean(), (p, plen, a, alen, near, bare) => {
      // Near: the address shares the prefix's leading bits (flipped in one low bit or not at all).
      const addr = near === 0 ? a : near === 1 ? netOf(p, plen) + (a % 2 ** (32 - plen)) : p ^ ((1 << (a % 32)) >>> 0);
      const an = netOf(addr >>> 0, bare ? 32 : alen);
      const cidr = bare ? text(addr >>> 0) : `${text(an)}/${alen}`;
      const prefix = Prefix.parse(`${text(netOf(p, plen))}/${plen}`);
      assert.equal(prefix.contains(cidr), reference(p, plen, an, bare ? 32 : alen), `${prefix.cidr} ∋ ${cidr}`);
    }),
    { numRuns: 5000 },
  );
});

test("Prefix.contains: the octet boundary, /32, and the other family", () => {
  const p = Prefix.parse("10.65.1.0/24");
  assert.ok(p.contains("10.65.1.7"));
  assert.ok(!p.contains("10.65.10.7"), "10.65.10. does not start with 10.65.1.");
  assert.ok(!p.contains("10.65.1.0/23"), "wider than the prefix");
  assert.ok(Prefix.parse("10.65.1.5/32").contains("10.65.1.5"));
  assert.ok(Prefix.parse("10.65.1.5").contains("10.65.1.5/32"));
  assert.ok(!Prefix.parse("10.65.1.5/32").contains("10.65.1.6"));
  assert.ok(Prefix.parse("10.64.0.0/10").contains("10.127.255.255"));
  assert.ok(!Prefix.parse("10.64.0.0/10").contains("10.128.0.0"));
  assert.ok(!p.contains("fd00::1"));
  assert.ok(Prefix.parse("fd00::/64").contains("fd00::1"));
  assert.ok(!Prefix.parse("fd00::/64").contains("10.65.1.7"));
});
