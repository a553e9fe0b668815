// The netlink encoder without a kernel: the wire format round-trips, element
// keys are nft's, and hostile or unknown input is refused as NetlinkUnsupported
// (so the transaction goes through nft -f, which has its own checks) — never
// truncated, never encoded as something else, never another exception.
// netlink-kernel.test.ts proves the encodings against the real kernel and nft.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import type { NftCommand, NftMapElement } from "../../nftables/commands.js";
import {
  type Attr,
  attr,
  encodeMessage,
  encodeMessages,
  type NfMessage,
  nestedBytes,
  parseAttrs,
  splitMessages,
  str,
  u32be,
} from "../../nftables/netlink/codec.js";
import { keyLayout, NetlinkUnsupported, wireElements } from "../../nftables/netlink/elements.js";
import { encodeCommands } from "../../nftables/netlink/messages.js";
import { compileRule } from "../../nftables/netlink/rule-compile.js";

/** Sets and maps the contexts know: a plain set, a verdict map, an affinity set. */
const objectKeys: Record<string, { type: string; interval: boolean } | undefined> = {
  s: { type: "ipv4_addr", interval: false },
  m: { type: "ipv4_addr . inet_proto . inet_service : verdict", interval: false },
  aff: { type: "ipv4_addr", interval: false },
};

const ctx = {
  family: "ip" as const,
  setKey: (n: string) => objectKeys[n],
  anonSet: () => ({ name: "__set%d", id: 1 }),
};
const none = { setKey: () => undefined, elementsBefore: () => undefined };

test("a message round-trips: header, nfgenmsg, nested attributes padded to 4 bytes", () => {
  const m = encodeMessage({ type: 0xa06, flags: 5, family: 2, attrs: [str(1, "calico"), u32be(3, 7)] }, 42);
  const [r] = splitMessages(m);
  assert.equal(r.type, 0xa06);
  assert.equal(r.seq, 42);
  assert.equal(r.body[0], 2); // NFPROTO_IPV4
  const a = parseAttrs(r.body.subarray(4));
  assert.equal(a.get(1)?.toString(), "calico\0");
  assert.equal(a.get(3)?.readUInt32BE(0), 7);
  assert.equal(m.length % 4, 0);
});

/** The wire format spelled out with Buffer's own writers, zero-filled: what the serializer must produce. */
function reference(m: NfMessage, seq: number, flags = m.flags): Buffer {
  const attrs = (list: readonly Attr[]): Buffer =>
    Buffer.concat(
      list.map((a) => {
        const nested = Array.isArray(a.payload);
        const body = nested ? attrs(a.payload as readonly Attr[]) : (a.payload as Buffer);
        const out = Buffer.alloc((4 + body.length + 3) & ~3);
        out.writeUInt16LE(4 + body.length, 0);
        out.writeUInt16LE(nested ? a.type | 0x8000 : a.type, 2);
        body.copy(out, 4);
        return out;
      }),
    );
  const body = attrs(m.attrs);
  const h = Buffer.alloc(20);
  h.writeUInt32LE(20 + body.length, 0);
  h.writeUInt16LE(m.type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  h.writeUInt8(m.family, 16);
  h.writeUInt16BE(m.resId ?? 0, 18);
  return Buffer.concat([h, body]);
}

test("a batch is its messages back to back, numbered in order, the ACK on the one asked, every pad byte zero", () => {
  // Leave the shared pool dirty: the serializer takes unfilled memory and must write every byte.
  Buffer.allocUnsafe(4096).fill(0xff);
  const big = Buffer.alloc(45, 7); // copied whole, not byte by byte
  const msgs: NfMessage[] = [
    { type: 0x10, flags: 1, family: 0, resId: 10, attrs: [] },
    {
      type: 0xa06,
      flags: 0x401,
      family: 2,
      attrs: [str(1, "calico"), str(2, "odd"), attr(4, [u32be(1, -3), attr(2, big)])],
    },
    {
      type: 0xa0c,
      flags: 1,
      family: 10,
      attrs: [str(1, "calico-nat-3"), attr(3, [attr(1, [attr(1, Buffer.from([1, 2, 3]))])])],
    },
    { type: 0x11, flags: 1, family: 0, resId: 10, attrs: [] },
  ];
  for (const seq of [1, 0x7ffffffe]) {
    const got = encodeMessages(msgs, seq, 2);
    const want = Buffer.concat(msgs.map((m, i) => reference(m, seq + i, i === 2 ? m.flags | 4 : m.flags)));
    assert.deepEqual(got, want);
    assert.deepEqual(encodeMessage(msgs[1], 9), reference(msgs[1], 9));
  }
  // A verdict code is negative: written as its 32-bit two's complement, as the kernel reads it.
  assert.equal(u32be(1, -3).payload.toString("hex"), "fffffffd");
  assert.equal(u32be(1, 2 ** 32 - 3), u32be(1, -3));
});

test("elements: an interval is a start and an end one past it; the last key is open; concatenations carry KEY_END", () => {
  const iv = keyLayout("ipv4_addr", true);
  assert.deepEqual(
    wireElements(iv, "10.0.0.0/24").map((w) => [w.key.toString("hex"), w.flags ?? 0]),
    [
      ["0a000000", 0],
      ["0a000100", 1],
    ],
  );
  const open = wireElements(iv, "255.255.255.0/24");
  assert.equal(open.length, 1);
  assert.ok(open[0].udata, "open interval flagged in user data");
  const cat = wireElements(
    keyLayout("ipv4_addr . inet_proto . inet_service . ipv4_addr", true),
    "10.0.0.1 . tcp . 80 . 10.2.0.0/16",
  );
  assert.equal(cat[0].key.toString("hex"), "0a000001060000000050000" + "00a020000");
  assert.equal(cat[0].keyEnd?.toString("hex"), "0a000001060000000050000" + "00a02ffff");
});

test("an IPv4 element's key is ipaddr's bytes, whether or not it takes the dotted-quad fast path", () => {
  const octet = fc.oneof(
    fc.integer({ min: 0, max: 300 }).map(String),
    fc.constantFrom("00", "010", "0x1", "1e1", "", " 1", "1 ", "-1", "2555"),
  );
  const text = fc
    .tuple(fc.array(octet, { minLength: 3, maxLength: 5 }), fc.constantFrom("", "/32", "/032", "/24", "/33", "/"))
    .map(([o, suffix]) => o.join(".") + suffix);
  for (const interval of [false, true]) {
    const k = keyLayout("ipv4_addr", interval);
    fc.assert(
      fc.property(text, (t) => {
        const [ip, len] = t.split("/");
        const exact = len === undefined || len === "32";
        let want: string | undefined;
        try {
          if (exact && ipaddr.isValid(ip) && ipaddr.parse(ip).kind() === "ipv4") {
            want = Buffer.from(ipaddr.parse(ip).toByteArray()).toString("hex");
          }
        } catch {
          want = undefined;
        }
        let got: string | undefined;
        try {
          got = wireElements(k, t)[0].key.toString("hex");
        } catch (e) {
          assert.ok(e instanceof NetlinkUnsupported, String(e));
        }
        // Prefixes shorter than /32 are checked elsewhere; here a host address either encodes as ipaddr reads it or is refused.
        if (exact) assert.equal(got, want, t);
      }),
      { numRuns: 2000 },
    );
  }
});

test("elements of the wrong family, host bits, ranges where none belong, bad ports are refused", () => {
  const plain = keyLayout("ipv4_addr", false);
  for (const [k, e] of [
    [plain, "fd00::1"],
    [plain, "10.0.0.0/24"],
    [keyLayout("ipv4_addr", true), "10.0.0.1/24"],
    [keyLayout("ipv4_addr . inet_proto . inet_service", false), "10.0.0.1 . tcp . 65536"],
    [keyLayout("ipv4_addr . inet_proto . inet_service", false), "10.0.0.1 . icmp . 1"],
    [plain, "10.0.0.1 . tcp"],
  ] as const) {
    assert.throws(() => wireElements(k, e), NetlinkUnsupported, e);
  }
  assert.throws(() => keyLayout("ipv4_addr . mark", false), NetlinkUnsupported);
});

test("hostile rule texts are refused, not encoded", () => {
  const bad = [
    'accept; flush ruleset comment "cali:x"',
    "accept\nflush ruleset",
    'iifname "eth0" accept comment "cali:x" accept',
    'iifname "a\\" drop" accept',
    'iifname "0123456789abcdef" accept',
    "ip saddr 10.0.0.1/33 accept",
    "ip saddr 10.0.0.1/24 accept",
    "ip saddr fd00::1 accept",
    "ip6 saddr fd00::1 accept",
    `ip saddr @${"s".repeat(256)} accept`,
    "ip saddr @s x accept",
    `jump ${"c".repeat(256)}`,
    "jump c;d",
    "tcp dport 65536 accept",
    "tcp dport { 80, 81-90 } accept",
    "tcp dport { 80, 80 } accept",
    "meta mark & 0x1 == 0x1 accept",
    `accept comment "${"c".repeat(129)}"`,
    `log prefix "${"p".repeat(128)}" group 1`,
    "meta skuid 0 accept",
    "snat to fd00::1",
    "ip daddr . meta l4proto . th dport @unknown accept",
  ];
  for (const t of bad) assert.throws(() => compileRule(t, ctx), NetlinkUnsupported, t);
});

test("any text either compiles or is refused as NetlinkUnsupported (no other exception)", () => {
  const words = fc.constantFrom(
    "ip",
    "saddr",
    "daddr",
    "10.0.0.0/8",
    "!=",
    "@s",
    ".",
    "meta",
    "l4proto",
    "mark",
    "&",
    "==",
    "0x00010000",
    "set",
    "|",
    "tcp",
    "dport",
    "{",
    "}",
    ",",
    "80-90",
    "ct",
    "state",
    "!",
    "new,established",
    "fib",
    "type",
    "local",
    "oif",
    "0",
    "icmp",
    "code",
    "echo-request",
    "masquerade",
    "to",
    ":1-2",
    "fully-random",
    "jump",
    "accept",
    '"x"',
    "comment",
    "log",
    "prefix",
    "group",
    "vmap",
    "@m",
    "numgen",
    "random",
    "mod",
    "2",
    ":",
    "goto",
    "update",
  );
  fc.assert(
    fc.property(fc.array(words, { maxLength: 12 }), (ws) => {
      try {
        compileRule(ws.join(" "), ctx);
      } catch (e) {
        if (!(e instanceof NetlinkUnsupported)) throw e;
      }
    }),
    { numRuns: 3000, seed: 18 },
  );
});

test("names longer than nft's limit or holding a NUL are refused before anything is sent", () => {
  const cmds: NftCommand[][] = [
    [{ op: "add chain", chain: "c".repeat(256) }],
    [{ op: "flush chain", chain: "a\0b" }],
    [{ op: "delete set", set: "" }],
  ];
  for (const c of cmds) assert.throws(() => encodeCommands("ip", c, none), NetlinkUnsupported);
  assert.equal(encodeCommands("ip", [{ op: "add chain", chain: "c".repeat(255) }], none).length, 1);
});

test("a big element command is split into messages whose attributes fit 16-bit lengths", () => {
  const key = { type: "ipv6_addr", interval: true };
  const elements = Array.from({ length: 3000 }, (_, i) => `fd00:${i.toString(16)}::/64`);
  const msgs = encodeCommands("ip6", [{ op: "add element", set: "big", key, elements }], none);
  assert.ok(msgs.length > 1);
  for (const m of msgs) assert.ok(encodeMessage(m.msg, 1).length < 65_536);
});

const objCtx = { setKey: (n: string) => objectKeys[n], elementsBefore: () => undefined };
const MAP_KEY = { type: "ipv4_addr . inet_proto . inet_service", interval: false };

test("kube-proxy's objects: a map element carries its verdict, numgen's map is anonymous, update is a dynset", () => {
  const msgs = encodeCommands(
    "ip",
    [
      {
        op: "add map element",
        map: "m",
        key: MAP_KEY,
        elements: [
          { key: "10.96.0.10 . udp . 53", verdict: { kind: "goto", chain: "nat-a" } },
          { key: "10.96.0.11 . tcp . 80", verdict: { kind: "drop" } },
        ],
      },
    ],
    objCtx,
  );
  assert.equal(msgs.length, 1);
  const list = parseAttrs(
    parseAttrs(
      Buffer.concat(
        msgs[0].msg.attrs.map((a) => encodeMessage({ type: 0, flags: 0, family: 2, attrs: [a] }, 1).subarray(20)),
      ),
    ).all[2].payload,
  );
  const [goto, drop] = list.all.map((e) => parseAttrs(e.payload));
  assert.equal(
    parseAttrs(goto.get(1) as Buffer)
      .get(1)
      ?.toString("hex"),
    "0a60000a1100000000350000",
  );
  const verdict = (e: ReturnType<typeof parseAttrs>) => parseAttrs(parseAttrs(e.get(2) as Buffer).get(2) as Buffer);
  assert.equal(verdict(goto).get(1)?.readInt32BE(0), -4);
  assert.equal(verdict(goto).get(2)?.toString(), "nat-a\0");
  assert.equal(verdict(drop).get(1)?.readInt32BE(0), 0);
  assert.equal(verdict(drop).get(2), undefined);
  const names: string[] = [];
  const r = compileRule('numgen random mod 2 vmap { 0 : goto a, 1 : goto b } comment "cali:x"', {
    ...ctx,
    anonSet: (d) => {
      assert.ok(d.map && d.elements.length === 2 && d.keyLen === 4);
      names.push("__map%d");
      return { name: "__map%d", id: 7 };
    },
  });
  assert.deepEqual(names, ["__map%d"]);
  assert.equal(r.exprs.length, 2);
  const u = compileRule("update @aff { ip saddr }", ctx);
  assert.equal(u.exprs.length, 2);
});

test("attack: object commands and statements outside our exact forms are refused, never encoded", () => {
  const A4 = { type: "ipv4_addr", interval: false };
  const goto = (chain: string) => ({ kind: "goto" as const, chain });
  const element = (key: string, verdict: NftMapElement["verdict"] = goto("a")): NftCommand => ({
    op: "add map element",
    map: "m",
    key: MAP_KEY,
    elements: [{ key, verdict }],
  });
  const cmds: NftCommand[] = [
    // A key that is not one key of the map's type: no element is made of part of it.
    element("10.96.0.10 . tcp . 80 : goto x; flush ruleset"),
    element("10.96.0.10 . tcp . 80\nflush ruleset"),
    element("10.96.0.10 . tcp"),
    element("10.0.0.0/8 . tcp . 80"),
    element("fd00::1 . tcp . 80"),
    element("10.96.0.10 . tcp . 80", goto("\0")),
    element("10.96.0.10 . tcp . 80", goto("x".repeat(256))),
    { op: "delete element", set: "m", key: MAP_KEY, elements: ["10.96.0.10 . tcp . 80 : goto a"] },
    { op: "add element", set: "s", key: A4, elements: ["10.0.0.1 : goto a"] },
    { op: "add element", set: "s", key: { type: "ipv6_addr", interval: false }, elements: ["10.0.0.1"] },
    { op: "add map", map: "m2", key: { type: "ipv4_addr", interval: true } },
    { op: "add map", map: "m2", key: { type: "ipv4_addr : counter", interval: false } },
    { op: "add set", set: "a2", key: A4, timeout: 0 },
    { op: "add set", set: "a2", key: A4, timeout: 1.5 },
    { op: "add set", set: "a2", key: A4, timeout: 10_000_000 },
    { op: "add set", set: "a2", key: { type: "ipv4_addr", interval: true }, timeout: 5 },
    { op: "add set", set: "a2", key: { type: "ipv4_addr . inet_service", interval: false }, timeout: 5 },
    { op: "add set", set: "a\0b", key: A4, timeout: 5 },
    { op: "delete set", set: "x".repeat(256) },
  ];
  for (const c of cmds) {
    assert.throws(() => encodeCommands("ip", [c], objCtx), NetlinkUnsupported, JSON.stringify(c));
  }
  const rules = [
    "numgen random mod 2 vmap { 0 : goto a, 0 : goto b }",
    "numgen random mod 2 vmap { 0 : accept }",
    "numgen random mod 2 vmap { 0 : goto a;b }",
    "update @aff { ip daddr }",
    "update @m { ip saddr }",
    "update @aff { ip6 saddr }",
    "ip daddr . meta l4proto . th dport vmap @aff",
    "ip daddr . meta l4proto . th dport @m accept",
    "meta l4proto . th dport vmap @unknown",
  ];
  for (const t of rules) assert.throws(() => compileRule(t, ctx), NetlinkUnsupported, t);
});

test("a set's elements are bytes once their message is built (the same bytes as nested attributes): no element objects wait for the batch", () => {
  const elements = Array.from({ length: 1500 }, (_, i) => `10.${i >> 8}.${i & 255}.1`);
  const msgs = encodeCommands(
    "ip",
    [{ op: "add element", set: "s", key: { type: "ipv4_addr", interval: false }, elements }],
    objCtx,
  );
  assert.ok(msgs.length > 1, "split into messages under the 16-bit attribute length");
  let n = 0;
  for (const { msg } of msgs) {
    const list = msg.attrs.at(-1)!;
    assert.ok(Buffer.isBuffer(list.payload), "the element list is encoded");
    n += parseAttrs(list.payload as Buffer).all.length;
  }
  assert.equal(n, elements.length);
  const nested = attr(3, [attr(1, [u32be(3, 1)]), attr(1, [str(1, "x")])]);
  const bytes = nestedBytes(3, nested.payload as readonly Attr[]);
  const wire = (a: Attr) => encodeMessage({ type: 0, flags: 0, family: 2, attrs: [a] }, 1);
  assert.deepEqual(wire(bytes), wire(nested));
});
