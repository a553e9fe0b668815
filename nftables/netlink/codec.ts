// The nfnetlink wire format our nft writer and reader need: netlink message
// headers, the nfgenmsg header, and type-length-value attributes (nested ones
// carry NLA_F_NESTED, as libnftnl sends them). nf_tables wants its integers in
// network byte order; register contents (marks, conntrack bits, interface
// names) are in the host's order, which callers write themselves.

/** NETLINK_NETFILTER. */
export const NETLINK_NETFILTER = 12;
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
const NLA_F_NESTED = 0x8000;

/** nf_tables message types (NFT_MSG_*), sent as (NFNL_SUBSYS_NFTABLES << 8) | type. */
export const NftMsg = {
  NEWTABLE: 0,
  GETTABLE: 1,
  DELTABLE: 2,
  NEWCHAIN: 3,
  GETCHAIN: 4,
  DELCHAIN: 5,
  NEWRULE: 6,
  GETRULE: 7,
  DELRULE: 8,
  NEWSET: 9,
  GETSET: 10,
  DELSET: 11,
  NEWSETELEM: 12,
  GETSETELEM: 13,
  DELSETELEM: 14,
} as const;

const align4 = (n: number) => (n + 3) & ~3;

/** One attribute: a payload or nested attributes. */
export interface Attr {
  readonly type: number;
  readonly payload: Buffer | readonly Attr[];
}

export const attr = (type: number, payload: Buffer | readonly Attr[]): Attr => ({ type, payload });

// Small payloads come from Node's shared pool (allocUnsafe, every byte written): a change encodes
// thousands, and a Buffer.alloc each was an ArrayBuffer each for the collector.
// Registers, operators, keys, lengths and verdict codes (jump and goto are negative) are small and
// recur in every rule: one shared attribute each (attributes are never written after they are made;
// the serializer only copies them).
const SMALL_U32: Attr[] = [];

export function u32be(type: number, v: number): Attr {
  const u = v >>> 0;
  if (u === v || u - 2 ** 32 === v) {
    const small = u < 256 ? u : u >= 2 ** 32 - 8 ? u - (2 ** 32 - 264) : -1; // 0-255, then -8..-1 as 256-263
    if (small >= 0 && type >= 0 && type < 64) {
      const k = type * 264 + small;
      let a = SMALL_U32[k];
      if (!a) {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(u);
        a = SMALL_U32[k] = Object.freeze(attr(type, b));
      }
      return a;
    }
  }
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(u);
  return attr(type, b);
}

export function u64be(type: number, v: bigint): Attr {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(v);
  return attr(type, b);
}

/**
 * String attributes made recently, by type: the same table, chain and set names recur in every
 * rule of a batch and in every batch. Bounded (emptied when full), so names from input cannot
 * grow it.
 */
const STRINGS = new Map<number, Map<string, Attr>>();
const STRINGS_PER_TYPE = 4096;

/** A NUL-terminated string (nf_tables names, prefixes). */
export function str(type: number, s: string): Attr {
  let byType = STRINGS.get(type);
  if (!byType) {
    byType = new Map();
    STRINGS.set(type, byType);
  }
  let a = byType.get(s);
  if (!a) {
    if (byType.size >= STRINGS_PER_TYPE) byType.clear();
    a = Object.freeze(attr(type, Buffer.from(`${s}\0`, "utf8")));
    byType.set(s, a);
  }
  return a;
}

// Array.isArray, not Buffer.isBuffer: the global Buffer is a getter in an ES module, and both
// walks ask once per attribute.
const isNested = (p: Attr["payload"]): p is readonly Attr[] => Array.isArray(p);

function attrsSize(list: readonly Attr[]): number {
  let n = 0;
  for (let i = 0; i < list.length; i++) {
    const p = list[i].payload;
    n += align4(4 + (isNested(p) ? attrsSize(p) : p.length));
  }
  return n;
}

// Headers are written byte by byte and small payloads copied by a loop: a batch is mostly
// attributes of a few bytes, and Buffer's checked writers and copy() cost more per call than the
// bytes they move (74 -> 140-180 MB/s on the large policy table; a change's batch, ~13 KB, is a
// small part of its CPU either way: the kernel's commit inside sendmsg is most of it).
function u16le(buf: Buffer, at: number, v: number): void {
  buf[at] = v & 0xff;
  buf[at + 1] = v >>> 8;
}

function u32le(buf: Buffer, at: number, v: number): void {
  buf[at] = v & 0xff;
  buf[at + 1] = (v >>> 8) & 0xff;
  buf[at + 2] = (v >>> 16) & 0xff;
  buf[at + 3] = v >>> 24;
}

/**
 * Nested attributes written to bytes now, as one attribute with the same bytes as `attr(type,
 * list)`: the objects of a long list (a set's elements, three or four each) are garbage at once
 * instead of living until the batch is encoded, through the scavenges a big change makes
 * meanwhile (at large, a namespace label change's element attributes were ~0.25 MB of what the
 * nft dataplane promoted to the old generation per apply).
 */
export function nestedBytes(type: number, list: readonly Attr[]): Attr {
  const buf = Buffer.allocUnsafe(attrsSize(list));
  writeAttrs(buf, 0, list);
  return attr(type | NLA_F_NESTED, buf);
}

/** Writes the attributes from `at`, padding zeroed; returns the end. A nested length is patched in once its payload is written (one pass). */
function writeAttrs(buf: Buffer, at: number, list: readonly Attr[]): number {
  for (let i = 0; i < list.length; i++) {
    const a = list[i];
    const p = a.payload;
    const start = at;
    let len: number;
    if (isNested(p)) {
      len = writeAttrs(buf, at + 4, p) - (at + 4); // nested attributes end aligned: no padding inside
      u16le(buf, at + 2, a.type | NLA_F_NESTED);
    } else {
      len = p.length;
      if (len <= 32) for (let j = 0; j < len; j++) buf[at + 4 + j] = p[j];
      else p.copy(buf, at + 4);
      u16le(buf, at + 2, a.type);
    }
    if (4 + len > 0xffff) throw new RangeError(`netlink attribute ${a.type} too long (${len} bytes)`);
    u16le(buf, start, 4 + len);
    at = start + 4 + len;
    const end = align4(at);
    while (at < end) buf[at++] = 0;
  }
  return at;
}

export interface NfMessage {
  readonly type: number;
  readonly flags: number;
  /** NFPROTO_* of the nfgenmsg header. */
  readonly family: number;
  /** nfgenmsg res_id (the subsystem, in batch framing). */
  readonly resId?: number;
  readonly attrs: readonly Attr[];
}

/** The bytes `m` takes in a datagram (header, nfgenmsg, attributes). */
export const messageSize = (m: NfMessage) => 16 + 4 + attrsSize(m.attrs);

/** Writes one message (netlink and nfgenmsg headers, attributes) at `at`; returns the end. */
function writeMessage(buf: Buffer, at: number, m: NfMessage, seq: number, flags: number): number {
  const end = writeAttrs(buf, at + 20, m.attrs);
  u32le(buf, at, end - at);
  u16le(buf, at + 4, m.type);
  u16le(buf, at + 6, flags);
  u32le(buf, at + 8, seq >>> 0);
  u32le(buf, at + 12, 0);
  buf[at + 16] = m.family;
  buf[at + 17] = 0; // NFNETLINK_V0
  const res = m.resId ?? 0;
  buf[at + 18] = res >>> 8; // res_id is big-endian
  buf[at + 19] = res & 0xff;
  return end;
}

/** Encodes one netlink message with its nfgenmsg header; the caller picks `seq`. */
export const encodeMessage = (m: NfMessage, seq: number): Buffer => encodeMessages([m], seq);

/**
 * Encodes messages back to back into one datagram (a batch), numbered from `firstSeq`;
 * `ack`: the index of the message whose flags also get NLM_F_ACK.
 */
export function encodeMessages(msgs: readonly NfMessage[], firstSeq: number, ack = -1): Buffer {
  let size = 0;
  for (let i = 0; i < msgs.length; i++) size += messageSize(msgs[i]);
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    at = writeMessage(buf, at, m, firstSeq + i, i === ack ? m.flags | NLM_F_ACK : m.flags);
  }
  return buf;
}

export const nftType = (msg: number) => (NFNL_SUBSYS_NFTABLES << 8) | msg;

/** A message received from the kernel. */
export interface RawReply {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  /** The bytes after the netlink header. */
  readonly body: Buffer;
}

/** Splits a datagram into its netlink messages; a malformed length ends the walk with an error. */
export function splitMessages(buf: Buffer): RawReply[] {
  const out: RawReply[] = [];
  let at = 0;
  while (at + 16 <= buf.length) {
    const len = buf.readUInt32LE(at);
    if (len < 16 || at + len > buf.length) throw new Error(`malformed netlink message (length ${len} at ${at})`);
    out.push({
      type: buf.readUInt16LE(at + 4),
      flags: buf.readUInt16LE(at + 6),
      seq: buf.readUInt32LE(at + 8),
      body: buf.subarray(at + 16, at + len),
    });
    at += align4(len);
  }
  return out;
}

/** NLMSG_ERROR: the errno (0 for an ACK, else positive) and the sequence number it answers. */
export function parseError(body: Buffer): { errno: number; seq: number } {
  if (body.length < 20) throw new Error("short netlink error message");
  return { errno: -body.readInt32LE(0), seq: body.readUInt32LE(12) };
}

/** Parsed attributes of one level: type (without flags) → payload; repeated types kept in `all`. */
export interface ParsedAttrs {
  readonly get: (type: number) => Buffer | undefined;
  readonly all: readonly { readonly type: number; readonly payload: Buffer }[];
}

export function parseAttrs(buf: Buffer): ParsedAttrs {
  const all: { type: number; payload: Buffer }[] = [];
  let at = 0;
  while (at + 4 <= buf.length) {
    const len = buf.readUInt16LE(at);
    if (len < 4 || at + len > buf.length) throw new Error(`malformed netlink attribute (length ${len})`);
    all.push({ type: buf.readUInt16LE(at + 2) & 0x3fff, payload: buf.subarray(at + 4, at + len) });
    at += align4(len);
  }
  const map = new Map<number, Buffer>();
  for (const a of all) if (!map.has(a.type)) map.set(a.type, a.payload);
  return { get: (t) => map.get(t), all };
}

/** A NUL-terminated string attribute's text. */
export function attrString(b: Buffer | undefined): string | undefined {
  if (b === undefined) return undefined;
  const nul = b.indexOf(0);
  return b.toString("utf8", 0, nul < 0 ? b.length : nul);
}
