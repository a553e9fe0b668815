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
// Registers, operators, keys and lengths are small and recur in every rule: one shared attribute
// each (attributes are never written after they are made; encodeMessage only copies them).
const SMALL_U32: Attr[] = [];

export function u32be(type: number, v: number): Attr {
  if (v >= 0 && v < 256 && type >= 0 && type < 64 && Number.isInteger(v)) {
    const k = (type << 8) | v;
    let a = SMALL_U32[k];
    if (!a) {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(v);
      a = SMALL_U32[k] = Object.freeze(attr(type, b));
    }
    return a;
  }
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0);
  return attr(type, b);
}

export function u64be(type: number, v: bigint): Attr {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(v);
  return attr(type, b);
}

/** A NUL-terminated string (nf_tables names, prefixes). */
export function str(type: number, s: string): Attr {
  return attr(type, Buffer.from(`${s}\0`, "utf8"));
}

function attrsSize(list: readonly Attr[]): number {
  let n = 0;
  for (const a of list) n += align4(4 + (Buffer.isBuffer(a.payload) ? a.payload.length : attrsSize(a.payload)));
  return n;
}

/** Writes the attributes from `at`; returns the end. A nested length is patched in once its payload is written (one pass). */
function writeAttrs(buf: Buffer, at: number, list: readonly Attr[]): number {
  for (const a of list) {
    const start = at;
    let len: number;
    if (Buffer.isBuffer(a.payload)) {
      len = a.payload.length;
      a.payload.copy(buf, at + 4);
      buf.writeUInt16LE(a.type, at + 2);
    } else {
      len = writeAttrs(buf, at + 4, a.payload) - (at + 4); // nested attributes end aligned: no padding inside
      buf.writeUInt16LE(a.type | NLA_F_NESTED, at + 2);
    }
    if (4 + len > 0xffff) throw new RangeError(`netlink attribute ${a.type} too long (${len} bytes)`);
    buf.writeUInt16LE(4 + len, start);
    at = start + align4(4 + len);
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

/** Encodes one netlink message with its nfgenmsg header; the caller picks `seq`. */
export function encodeMessage(m: NfMessage, seq: number): Buffer {
  const len = 16 + 4 + attrsSize(m.attrs);
  const buf = Buffer.alloc(len);
  buf.writeUInt32LE(len, 0);
  buf.writeUInt16LE(m.type, 4);
  buf.writeUInt16LE(m.flags, 6);
  buf.writeUInt32LE(seq >>> 0, 8);
  buf.writeUInt32LE(0, 12);
  buf.writeUInt8(m.family, 16);
  buf.writeUInt8(0, 17); // NFNETLINK_V0
  buf.writeUInt16BE(m.resId ?? 0, 18);
  writeAttrs(buf, 20, m.attrs);
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
