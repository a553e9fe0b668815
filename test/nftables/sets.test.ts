// IP sets as nft sets: types, element conversion (and refusal of anything that
// is not a well-formed member: a member is spliced into an `nft -f` script),
// covered members left out of interval sets, and nft's listing order.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { NftElementError, nftAddress, nftElement, nftElements, nftSetSpec, sortElements } from "../../nftables/sets.js";
import { set } from "./fixtures.js";

test("types as nft prints them, interval where the ipset holds CIDRs", () => {
  assert.deepEqual(nftSetSpec(set("cali40s:a", "hash:net", ["10.0.0.0/24"])), {
    name: "cali40s.a",
    type: "ipv4_addr",
    interval: true,
  });
  // Addresses only (pods): a plain set, cheaper for nft to change (sets.ts).
  assert.equal(nftSetSpec(set("cali40s:a", "hash:net", ["10.0.0.1", "10.0.0.2/32"])).interval, false);
  assert.equal(nftSetSpec(set("cali40s:a", "hash:net", [])).interval, false);
  assert.equal(nftSetSpec(set("cali60s:a", "hash:net", ["fd00::/64"], 6)).interval, true);
  assert.deepEqual(nftSetSpec(set("cali60n:b", "hash:ip,port", [], 6)), {
    name: "cali60n.b",
    type: "ipv6_addr . inet_proto . inet_service",
    interval: false,
  });
  assert.equal(nftSetSpec(set("x", "hash:ip,port,net", [])).type, "ipv4_addr . inet_proto . inet_service . ipv4_addr");
  assert.equal(nftSetSpec(set("x", "hash:ip,port,net", [])).interval, true);
  assert.equal(nftSetSpec(set("x", "hash:ip,port,ip", [])).interval, false);
});

test("members become elements in nft's canonical form", () => {
  const net = { type: "hash:net", family: 4 } as const;
  assert.equal(nftElement("10.0.0.1", net), "10.0.0.1");
  assert.equal(nftElement("10.0.0.1/32", net), "10.0.0.1");
  assert.equal(nftElement("10.0.0.0/8", net), "10.0.0.0/8");
  assert.equal(nftElement("fd00:0::1/128", { type: "hash:net", family: 6 }), "fd00::1");
  assert.equal(nftElement("10.0.0.1,tcp:080", { type: "hash:ip,port", family: 4 }), "10.0.0.1 . tcp . 80");
  assert.equal(
    nftElement("10.0.0.1,sctp:9,10.1.0.0/16", { type: "hash:ip,port,net", family: 4 }),
    "10.0.0.1 . sctp . 9 . 10.1.0.0/16",
  );
  assert.equal(
    nftElement("10.0.0.1,udp:53,10.0.0.2", { type: "hash:ip,port,ip", family: 4 }),
    "10.0.0.1 . udp . 53 . 10.0.0.2",
  );
});

test("hostile or malformed members are refused, never spliced into the script", () => {
  const cases: [string, Parameters<typeof nftElement>[1]][] = [
    ["10.0.0.1 }\nflush ruleset", { type: "hash:net", family: 4 }],
    ["10.0.0.1 } ; delete table ip filter ; add element ip calico x {", { type: "hash:net", family: 4 }],
    ["10.0.0.1, 10.0.0.2", { type: "hash:net", family: 4 }],
    ["fd00::1", { type: "hash:net", family: 4 }],
    ["10.0.0.1", { type: "hash:net", family: 6 }],
    ["10.0.0.0/33", { type: "hash:net", family: 4 }],
    ["10.0.0.0/8/8", { type: "hash:net", family: 4 }],
    ["10.0.0.1,tcp:65536", { type: "hash:ip,port", family: 4 }],
    ["10.0.0.1,icmp:8", { type: "hash:ip,port", family: 4 }],
    ["10.0.0.0/24,tcp:80", { type: "hash:ip,port", family: 4 }],
    ["10.0.0.1,tcp:80,10.0.0.2", { type: "hash:ip,port", family: 4 }],
    ["10.0.0.1,tcp:80", { type: "hash:ip,port,ip", family: 4 }],
    ["10.0.0.1,tcp:80,10.0.0.0/24", { type: "hash:ip,port,ip", family: 4 }],
  ];
  for (const [m, s] of cases) assert.throws(() => nftElement(m, s), NftElementError, JSON.stringify(m));
});

test("any accepted member's element is one token list of safe characters", () => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 40 }),
      fc.constantFrom("hash:net", "hash:ip,port", "hash:ip,port,net"),
      (m, type) => {
        let e: string;
        try {
          e = nftElement(m, { type, family: 4 });
        } catch (err) {
          assert.ok(err instanceof NftElementError);
          return;
        }
        assert.match(e, /^[0-9a-z./: ]+$/);
        assert.ok(!e.includes(","));
      },
    ),
    { numRuns: 2000, seed: 18 },
  );
});

test("covered members are left out of an interval set; the rest is kept", () => {
  const s = set("cali40s:x", "hash:net", [
    "10.0.0.0/16",
    "10.0.1.1",
    "10.0.0.0/24",
    "10.1.0.1",
    "10.1.0.1/32",
    "9.0.0.0/8",
  ]);
  assert.deepEqual([...nftElements(s)].sort(), ["10.0.0.0/16", "10.1.0.1", "9.0.0.0/8"]);
  const p = set("cali40n:y", "hash:ip,port", ["10.0.0.1,tcp:80", "10.0.0.1,udp:80"]);
  assert.equal(nftElements(p).size, 2);
  assert.equal(nftElements(s), nftElements(s), "cached per snapshot object");
});

test("what is left out is exactly what another member covers (property)", () => {
  // Masked below (the graph hands over CIDRs without host bits).
  const cidr = fc
    .tuple(fc.nat(3), fc.nat(3), fc.nat(3), fc.constantFrom(8, 16, 24, 30, 32))
    .map(([a, b, c, len]) => `10.${a}.${b}.${c}/${len}`);
  fc.assert(
    fc.property(fc.array(cidr, { maxLength: 12 }), (members) => {
      const norm = members.map((m) => {
        const [ip, len] = m.split("/");
        const o = ip.split(".").map(Number);
        const bits = Number(len);
        const n = ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0;
        const masked = bits === 0 ? 0 : (n & (~0 << (32 - bits))) >>> 0;
        return `${[24, 16, 8, 0].map((s) => (masked >>> s) & 255).join(".")}/${bits}`;
      });
      const kept = [...nftElements(set("s", "hash:net", norm))];
      const range = (c: string) => {
        const [ip, len] = c.split("/");
        const n = ip.split(".").reduce((a, x) => a * 256 + Number(x), 0);
        return [n, n + 2 ** (32 - Number(len ?? 32)) - 1];
      };
      const covers = (a: string, b: string) => range(a)[0] <= range(b)[0] && range(b)[1] <= range(a)[1];
      for (const k of kept) for (const o of kept) if (k !== o) assert.ok(!covers(o, k), `${k} inside ${o}`);
      for (const m of norm) {
        const e = m.endsWith("/32") ? m.slice(0, -3) : m;
        assert.ok(
          kept.some((k) => covers(k, e)),
          `${m} lost`,
        );
      }
    }),
    { numRuns: 300, seed: 18 },
  );
});

test("interval sets list by address, others by text", () => {
  assert.deepEqual(sortElements(["10.0.0.10", "10.0.0.9", "9.0.0.0/8"], true), ["9.0.0.0/8", "10.0.0.9", "10.0.0.10"]);
  assert.deepEqual(sortElements(["b", "a"], false), ["a", "b"]);
});

test("the dotted-quad fast path gives what the full parse gives", () => {
  fc.assert(
    fc.property(fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }), fc.boolean(), (octets, slash32) => {
      const ip = octets.join(".");
      const expected = ipaddr.parse(ip).toString();
      assert.equal(nftAddress(ip, 4, true), expected);
      assert.equal(nftAddress(`${ip}${slash32 ? "/32" : ""}`, 4, false), expected);
    }),
    { numRuns: 500, seed: 18 },
  );
  assert.throws(() => nftAddress("256.0.0.1", 4, true), NftElementError);
});
