// Our set types on the wire: the NEWSET attributes nft 1.0.6 sends for
// `type ipv4_addr`, `ipv4_addr . inet_proto . inet_service[ . ipv4_addr]`
// (with or without `flags interval`), and each element text of sets.ts as
// the key bytes nft would send (an interval as a start element plus an end
// element flagged NFT_SET_ELEM_INTERVAL_END; in a concatenation one element
// with NFTA_SET_ELEM_KEY_END). Anything else throws NetlinkUnsupported.

import ipaddr from "ipaddr.js";
import { type Attr, attr, u32be } from "./codec.js";
import { dataAttr, verdictData } from "./exprs.js";

/** The writer cannot express this: the transaction goes through `nft -f` instead. */
export class NetlinkUnsupported extends Error {
  constructor(what: string) {
    super(`netlink writer: ${what}`);
    this.name = "NetlinkUnsupported";
  }
}

/** nft datatype ids (TYPE_*) and their key lengths. */
const FIELD = {
  ipv4_addr: { id: 7, len: 4 },
  ipv6_addr: { id: 8, len: 16 },
  inet_proto: { id: 12, len: 1 },
  inet_service: { id: 13, len: 2 },
} as const;
type FieldType = keyof typeof FIELD;

export const NFT_SET_ANONYMOUS = 0x1;
export const NFT_SET_CONSTANT = 0x2;
export const NFT_SET_INTERVAL = 0x4;
export const NFT_SET_MAP = 0x8;
export const NFT_SET_TIMEOUT = 0x10;
export const NFT_SET_EVAL = 0x20;
export const NFT_SET_CONCAT = 0x80;
/** NFTA_SET_DATA_TYPE of a verdict map (NFT_DATA_VERDICT). */
export const NFT_DATA_VERDICT = 0xffffff00;
const NFT_SET_ELEM_INTERVAL_END = 1;

/** NFTNL_UDATA_SET_KEYBYTEORDER = big endian: what nft stores for address and port keys. */
const UDATA_BIG_ENDIAN = Buffer.from([0, 4, 2, 0, 0, 0]);
/** A concatenation: byte order "invalid" plus an empty typeof concat (nft 1.0.6's bytes). */
const UDATA_CONCAT = Buffer.from([0, 4, 0, 0, 0, 0, 3, 8, 0, 4, 13, 0, 0, 0, 1, 0]);
/** NFTNL_UDATA_SET_ELEM_FLAGS = NFTNL_SET_ELEM_F_INTERVAL_OPEN: an interval running to the last key. */
export const UDATA_INTERVAL_OPEN = Buffer.from([1, 4, 1, 0, 0, 0]);

export interface KeyLayout {
  readonly fields: readonly FieldType[];
  readonly interval: boolean;
}

export function keyLayout(type: string, interval: boolean): KeyLayout {
  const fields = type.split(" . ");
  for (const f of fields) if (!(f in FIELD)) throw new NetlinkUnsupported(`set key type ${JSON.stringify(type)}`);
  return { fields: fields as FieldType[], interval };
}

const padded = (n: number) => (n + 3) & ~3;

/** The NEWSET attributes after table and name: flags, key type and length, descriptor, user data. */
export function setAttrs(k: KeyLayout): Attr[] {
  const concat = k.fields.length > 1;
  const flags = (k.interval ? NFT_SET_INTERVAL : 0) | (concat && k.interval ? NFT_SET_CONCAT : 0);
  let typeId = 0;
  let keyLen = 0;
  for (const f of k.fields) {
    typeId = (typeId << 6) | FIELD[f].id;
    keyLen += concat ? padded(FIELD[f].len) : FIELD[f].len;
  }
  const out: Attr[] = [u32be(3, flags), u32be(4, typeId), u32be(5, keyLen)];
  if (concat && k.interval) {
    // NFTA_SET_DESC { NFTA_SET_DESC_CONCAT { NFTA_LIST_ELEM { NFTA_SET_FIELD_LEN } … } }
    out.push(
      attr(9, [
        attr(
          2,
          k.fields.map((f) => attr(1, [u32be(1, FIELD[f].len)])),
        ),
      ]),
    );
  }
  out.push(attr(13, concat ? UDATA_CONCAT : UDATA_BIG_ENDIAN));
  return out;
}

const PROTO: Readonly<Record<string, number>> = { tcp: 6, udp: 17, sctp: 132 };

/**
 * text[from, to) as the 4 bytes of a plain dotted quad ("10.0.1.2": decimal, no leading zeros), else
 * undefined (ipaddr decides then). Every pod address goes through here when a set is filled: ipaddr's
 * regexes made ~1 KB of garbage per element.
 */
function dottedQuad(text: string, from: number, to: number): Buffer | undefined {
  const out = Buffer.allocUnsafe(4);
  let i = from;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (text.charCodeAt(i) !== 0x2e) return undefined;
      i++;
    }
    const start = i;
    let n = 0;
    for (; i < to && i - start < 3; i++) {
      const c = text.charCodeAt(i) - 0x30;
      if (c < 0 || c > 9) break;
      n = n * 10 + c;
    }
    const digits = i - start;
    if (digits === 0 || n > 255 || (digits > 1 && text.charCodeAt(start) === 0x30)) return undefined;
    out[octet] = n;
  }
  return i === to ? out : undefined;
}

function addrBytes(text: string, v6: boolean): Buffer {
  const quad = v6 ? undefined : dottedQuad(text, 0, text.length);
  if (quad) return quad;
  if (!ipaddr.isValid(text)) throw new NetlinkUnsupported(`element address ${JSON.stringify(text)}`);
  const a = ipaddr.parse(text);
  if ((a.kind() === "ipv6") !== v6) throw new NetlinkUnsupported(`element address ${JSON.stringify(text)}`);
  return Buffer.from(a.toByteArray());
}

/** An address, a CIDR or `a-b` as its first and last address. */
function addrRange(text: string, v6: boolean, rangeOk: boolean): [Buffer, Buffer] {
  const dash = text.indexOf("-");
  if (dash > 0) {
    if (!rangeOk) throw new NetlinkUnsupported(`range ${JSON.stringify(text)} in a set without intervals`);
    const [a, b] = [addrBytes(text.slice(0, dash), v6), addrBytes(text.slice(dash + 1), v6)];
    if (Buffer.compare(a, b) > 0) throw new NetlinkUnsupported(`empty range ${JSON.stringify(text)}`);
    return [a, b];
  }
  // A bare address or a host prefix (most elements): no split, no copies.
  const slash = text.indexOf("/");
  if (!v6 && (slash < 0 || text.endsWith("/32"))) {
    const a = dottedQuad(text, 0, slash < 0 ? text.length : slash);
    if (a && (slash < 0 || slash === text.length - 3)) return [a, a];
  }
  const [ip, len, extra] = text.split("/");
  const a = addrBytes(ip, v6);
  if (len === undefined) return [a, a];
  const bits = Number(len);
  if (extra !== undefined || !/^\d{1,3}$/.test(len) || bits > a.length * 8 || (!rangeOk && bits !== a.length * 8)) {
    throw new NetlinkUnsupported(`element ${JSON.stringify(text)}`);
  }
  if (bits === a.length * 8) return [a, a];
  const first = Buffer.from(a);
  const last = Buffer.from(a);
  for (let i = 0; i < a.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((a[i] & ~mask) !== 0) throw new NetlinkUnsupported(`element ${JSON.stringify(text)} has host bits`);
    first[i] = a[i] & mask;
    last[i] = a[i] | (~mask & 0xff);
  }
  return [first, last];
}

function fieldRange(f: FieldType, text: string, rangeOk: boolean): [Buffer, Buffer] {
  if (f === "ipv4_addr" || f === "ipv6_addr") return addrRange(text, f === "ipv6_addr", rangeOk);
  if (f === "inet_proto") {
    const p = PROTO[text];
    if (p === undefined) throw new NetlinkUnsupported(`protocol ${JSON.stringify(text)}`);
    return [Buffer.from([p]), Buffer.from([p])];
  }
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new NetlinkUnsupported(`port ${JSON.stringify(text)}`);
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(Number(text));
  return [b, b];
}

/** b + 1 as a big-endian number of b's width, or undefined when b is all ones. */
export function plusOne(b: Buffer): Buffer | undefined {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] < 0xff) {
      out[i]++;
      return out;
    }
    out[i] = 0;
  }
  return undefined;
}

export interface WireElement {
  readonly key: Buffer;
  /** A map element's verdict (NFTA_SET_ELEM_DATA): NF_DROP 0, NFT_JUMP -3, NFT_GOTO -4 with its chain. */
  readonly verdict?: { readonly code: number; readonly chain?: string };
  readonly keyEnd?: Buffer;
  readonly flags?: number;
  readonly udata?: Buffer;
}

/** One element of our text as the wire elements nft sends for it. */
export function wireElements(k: KeyLayout, text: string): WireElement[] {
  const parts = text.split(" . ");
  if (parts.length !== k.fields.length) throw new NetlinkUnsupported(`element ${JSON.stringify(text)}`);
  if (k.fields.length === 1) {
    const [first, last] = fieldRange(k.fields[0], parts[0], k.interval);
    if (!k.interval) return [{ key: first }];
    const end = plusOne(last);
    if (!end) return [{ key: first, udata: UDATA_INTERVAL_OPEN }];
    return [{ key: first }, { key: end, flags: NFT_SET_ELEM_INTERVAL_END }];
  }
  // Concatenation: every field in a 4-byte-aligned slot.
  const size = k.fields.reduce((n, f) => n + padded(FIELD[f].len), 0);
  const key = Buffer.alloc(size);
  const keyEnd = Buffer.alloc(size);
  let at = 0;
  k.fields.forEach((f, i) => {
    const [first, last] = fieldRange(f, parts[i], k.interval);
    first.copy(key, at);
    last.copy(keyEnd, at);
    at += padded(FIELD[f].len);
  });
  return [k.interval ? { key, keyEnd } : { key }];
}

/** NFTA_LIST_ELEM of NFTA_SET_ELEM_LIST_ELEMENTS. */
export function elementAttr(e: WireElement): Attr {
  const a: Attr[] = [];
  if (e.flags) a.push(u32be(3, e.flags));
  a.push(dataAttr(1, e.key));
  if (e.verdict) a.push(verdictData(2, e.verdict.code, e.verdict.chain));
  if (e.keyEnd) a.push(dataAttr(10, e.keyEnd));
  if (e.udata) a.push(attr(6, e.udata));
  return attr(1, a);
}
