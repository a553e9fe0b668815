import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { familyOf, parseCidr, parseIp } from "../../../calc-graph/conversion/cidr.js";

describe("parseCidr", () => {
  it("keeps canonical CIDRs", () => {
    assert.deepEqual(parseCidr("10.0.0.0/8"), { version: 4, text: "10.0.0.0/8" });
    assert.deepEqual(parseCidr("fd00::/64"), { version: 6, text: "fd00::/64" });
    assert.deepEqual(parseCidr("0.0.0.0/0"), { version: 4, text: "0.0.0.0/0" });
    assert.deepEqual(parseCidr("::/0"), { version: 6, text: "::/0" });
  });

  it("masks IPv4 host bits", () => {
    assert.equal(parseCidr("10.0.0.5/24").text, "10.0.0.0/24");
    assert.equal(parseCidr("192.168.7.200/22").text, "192.168.4.0/22");
    assert.equal(parseCidr("10.255.255.255/1").text, "0.0.0.0/1");
    assert.equal(parseCidr("172.16.5.4/0").text, "0.0.0.0/0");
    assert.equal(parseCidr("10.1.2.3/32").text, "10.1.2.3/32");
    assert.equal(parseCidr("10.1.2.3/31").text, "10.1.2.2/31");
  });

  it("masks IPv6 host bits and canonicalises the text", () => {
    assert.deepEqual(parseCidr("fd00::1/64"), { version: 6, text: "fd00::/64" });
    assert.equal(parseCidr("2001:DB8:1234:5678::1/52").text, "2001:db8:1234:5000::/52");
    assert.equal(parseCidr("2001:db8::ffff/127").text, "2001:db8::fffe/127");
    assert.equal(parseCidr("2001:0db8:0000::0001/128").text, "2001:db8::1/128");
  });

  it("reads a bare IP as a host route", () => {
    assert.deepEqual(parseCidr("10.0.0.1"), { version: 4, text: "10.0.0.1/32" });
    assert.deepEqual(parseCidr("fd00::1"), { version: 6, text: "fd00::1/128" });
  });

  it("trims surrounding whitespace", () => {
    assert.equal(parseCidr(" 10.0.0.1/8 ").text, "10.0.0.0/8");
  });

  it("rejects prefix lengths out of range", () => {
    assert.throws(() => parseCidr("10.0.0.0/33"), /invalid CIDR "10\.0\.0\.0\/33"/);
    assert.throws(() => parseCidr("fd00::/129"), /invalid CIDR/);
    assert.throws(() => parseCidr("10.0.0.0/-1"), /invalid CIDR/);
    assert.throws(() => parseCidr("10.0.0.0/"), /invalid CIDR/);
    assert.throws(() => parseCidr("10.0.0.0/8/8"), /invalid CIDR/);
  });

  it("rejects garbage and empty input", () => {
    assert.throws(() => parseCidr("garbage"), /invalid CIDR "garbage"/);
    assert.throws(() => parseCidr(""), /invalid CIDR "": empty/);
    assert.throws(() => parseCidr("   "), /empty/);
    assert.throws(() => parseCidr("fd00::g/64"), /invalid CIDR/);
    assert.throws(() => parseCidr(undefined as unknown as string), /invalid CIDR/);
  });

  it("rejects IPv4 that is not four-part decimal", () => {
    for (const t of ["10.1", "10.1/16", "10", "0x0a.0.0.1", "010.0.0.1", "10.0.0.256", "1.2.3.4.5"]) {
      assert.throws(() => parseCidr(t), /invalid CIDR/, t);
    }
  });

  it("rejects IPv4-mapped IPv6", () => {
    assert.throws(() => parseCidr("::ffff:10.0.0.1/128"), /IPv4-mapped/);
  });

  it("IPv4 CIDRs: the fast path agrees with ipaddr.js on any four numbers and length, leading zeros included", () => {
    const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom("00", "01", "010", "0255"));
    const len = fc.oneof(fc.integer({ min: 0, max: 40 }).map(String), fc.constantFrom("00", "08", "-1", ""));
    fc.assert(
      fc.property(fc.array(octet, { minLength: 4, maxLength: 4 }), len, (parts, l) => {
        const t = `${parts.join(".")}/${l}`;
        let want: string | undefined;
        try {
          if (!ipaddr.IPv4.isValidFourPartDecimal(parts.join("."))) throw new Error("not four-part decimal");
          const [addr, bits] = ipaddr.parseCIDR(t);
          const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
          const n = (addr.toByteArray().reduce((a, b) => a * 256 + b, 0) & mask) >>> 0;
          want = `${[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".")}/${bits}`;
        } catch {
          want = undefined;
        }
        if (want === undefined) assert.throws(() => parseCidr(t), /invalid CIDR/, t);
        else assert.deepEqual(parseCidr(t), { version: 4, text: want }, t);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("parseIp", () => {
  it("parses and canonicalises", () => {
    assert.deepEqual(parseIp("10.0.0.1"), { version: 4, text: "10.0.0.1" });
    assert.deepEqual(parseIp("FD00::0001"), { version: 6, text: "fd00::1" });
    assert.deepEqual(parseIp(" 10.0.0.1 "), { version: 4, text: "10.0.0.1" });
  });

  it("rejects CIDRs, short IPv4 and garbage", () => {
    for (const t of ["10.0.0.1/32", "10.1", "10.0.0", "x", "", "::g"]) {
      assert.throws(() => parseIp(t), /invalid IP address/, t);
    }
    assert.throws(() => parseIp(42 as unknown as string), /invalid IP address/);
  });

  it("dotted quads: the fast path agrees with ipaddr.js on any four numbers, leading zeros and >255 included", () => {
    const octet = fc.oneof(fc.integer({ min: 0, max: 999 }).map(String), fc.constantFrom("00", "01", "010", "0255"));
    fc.assert(
      fc.property(fc.array(octet, { minLength: 4, maxLength: 4 }), (parts) => {
        const t = parts.join(".");
        const valid = ipaddr.IPv4.isValidFourPartDecimal(t);
        if (!valid) assert.throws(() => parseIp(t), /invalid IP address/, t);
        else assert.deepEqual(parseIp(t), { version: 4, text: ipaddr.parse(t).toString() }, t);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("familyOf", () => {
  it("tells IPv6 by its colon", () => {
    assert.equal(familyOf("10.0.0.0/8"), 4);
    assert.equal(familyOf("10.0.0.1"), 4);
    assert.equal(familyOf("fd00::/64"), 6);
    assert.equal(familyOf("::1"), 6);
  });
});
