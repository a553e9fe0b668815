// The values inside our rule statements as nft puts them on the wire
// (addresses, ports, marks, names, quoted strings; protocol and conntrack
// numbers), and the anonymous sets a rule declares (`tcp dport { 80, 443-450 }`,
// `icmp type . icmp code { … }`) with the user data nft 1.0.6 writes for them.
// Anything out of range or form throws NetlinkUnsupported.

import { NetlinkUnsupported, plusOne, UDATA_INTERVAL_OPEN, type WireElement } from "./elements.js";

/** An anonymous port set (`tcp dport { 80, 443-450 }`), declared in the same batch. */
export interface AnonSetDef {
  /** nft's key type id and length (inet_service, 2; icmp_type . icmp_code, 8). */
  readonly keyType: number;
  readonly keyLen: number;
  readonly interval: boolean;
  readonly elements: readonly WireElement[];
  /** NFTA_SET_USERDATA as nft writes it (byte order, merge flag, typeof the key). */
  readonly udata: Buffer;
  /** A verdict map (numgen's `vmap { 0 : goto a, … }`): elements carry verdicts. */
  readonly map?: boolean;
}

/** Protocol names nft lists (its /etc/protocols), by number. */
export const PROTOCOLS: Readonly<Record<string, number>> = {
  icmp: 1,
  igmp: 2,
  ipencap: 4,
  tcp: 6,
  udp: 17,
  dccp: 33,
  gre: 47,
  esp: 50,
  ah: 51,
  "ipv6-icmp": 58,
  sctp: 132,
  udplite: 136,
};
/** nft's protocol descriptor ids (typeof user data of a port set). */
export const PROTO_DESC: Readonly<Record<string, number>> = { udp: 6, udplite: 7, tcp: 8, dccp: 9, sctp: 10, th: 11 };
export const CT_STATE_BITS: Readonly<Record<string, number>> = {
  invalid: 1,
  established: 2,
  related: 4,
  new: 8,
  untracked: 64,
};
export const IP_DPS_DNAT = 0x20;
export const RTN_LOCAL = 2;
export const NFPROTO = { ip: 2, ip6: 10 } as const;
export const NAME_MAX = 255;
export const COMMENT_MAX = 128;
export const IFNAMSIZ = 16;

export const hostU32 = (n: number) => {
  const b = Buffer.allocUnsafe(4); // every byte written (codec.ts: small payloads from the pool)
  b.writeUInt32LE(n >>> 0); // registers hold marks and conntrack bits in host order (x86, arm64: little endian)
  return b;
};
export const be16 = (n: number) => {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n);
  return b;
};
export const unsupported = (what: string) => new NetlinkUnsupported(what);

export function num(t: string | undefined, max: number): number {
  if (t === undefined || !/^\d+$/.test(t) || Number(t) > max) throw unsupported(`number ${JSON.stringify(t)}`);
  return Number(t);
}

export function hexU32(t: string | undefined): number {
  if (t === undefined || !/^0x[0-9a-f]{8}$/.test(t)) throw unsupported(`mark ${JSON.stringify(t)}`);
  return Number.parseInt(t.slice(2), 16);
}

export function setName(t: string | undefined): string {
  if (t === undefined || !t.startsWith("@") || t.length - 1 > NAME_MAX || !/^@[A-Za-z0-9_./-]+$/.test(t)) {
    throw unsupported(`set reference ${JSON.stringify(t)}`);
  }
  return t.slice(1);
}

export function quoted(t: string | undefined): string {
  if (t === undefined || t.length < 2 || !t.startsWith('"') || !t.endsWith('"')) throw unsupported(`string ${t}`);
  const s = t.slice(1, -1);
  if (/["\\\0\n]/.test(s)) throw unsupported(`string ${t}`);
  return s;
}

export type Names = Readonly<Record<number, string>>;

export function named(t: string | undefined, names: Names): number {
  for (const [k, v] of Object.entries(names)) if (v === t) return Number(k);
  return num(t, 255);
}

export function portRange(t: string | undefined): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(t ?? "");
  if (!m) throw unsupported(`port ${JSON.stringify(t)}`);
  const a = num(m[1], 65535);
  const b = m[2] === undefined ? a : num(m[2], 65535);
  if (b <= a && m[2] !== undefined) throw unsupported(`port range ${t}`);
  return [a, b];
}

/** An address or prefix of the table's family: its bytes (host bits must be zero) and prefix length. */
export function parseCidr(t: string | undefined, v6: boolean): [Buffer, number] {
  const [ip, len, extra] = (t ?? "").split("/");
  let bytes: number[];
  if (!v6) {
    const parts = ip.split(".");
    if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255))
      throw unsupported(`address ${t}`);
    bytes = parts.map(Number);
  } else {
    bytes = parseV6(ip, t);
  }
  const full = bytes.length * 8;
  const bits = len === undefined ? full : num(len, full);
  if (extra !== undefined) throw unsupported(`address ${t}`);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    if (bytes[i] & ~((0xff << (8 - keep)) & 0xff) & 0xff) throw unsupported(`address ${t} has host bits`);
  }
  return [Buffer.from(bytes), bits];
}

export function parseV6(ip: string, t: string | undefined): number[] {
  if (!/^[0-9a-fA-F:]+$/.test(ip) || ip.split("::").length > 2) throw unsupported(`address ${t}`);
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const h = groups(head);
  const tl = tail === undefined ? [] : groups(tail);
  const fill = 8 - h.length - tl.length;
  if ((tail === undefined && fill !== 0) || (tail !== undefined && fill < 1)) throw unsupported(`address ${t}`);
  const all = [...h, ...Array(tail === undefined ? 0 : fill).fill("0"), ...tl];
  const out: number[] = [];
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw unsupported(`address ${t}`);
    const n = Number.parseInt(g, 16);
    out.push(n >> 8, n & 0xff);
  }
  return out;
}

/** `{ 80, 443-450 }` as nft builds it: a constant hash set, an interval set once a range is in it. */
export function portSetDef(proto: string, dir: string, ranges: readonly [number, number][]): AnonSetDef {
  const interval = ranges.some(([a, b]) => a !== b);
  const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < sorted.length; i++) {
    // nft would merge touching or overlapping intervals (and list them merged); a duplicate it would refuse.
    if (sorted[i][0] <= sorted[i - 1][1] + (interval ? 1 : 0)) throw unsupported("touching ports in a port set");
  }
  const elements: WireElement[] = [];
  if (!interval) for (const [a] of ranges) elements.push({ key: be16(a) });
  else {
    if (sorted[0][0] !== 0) elements.push({ key: be16(0), flags: 1 });
    for (const [a, b] of sorted) {
      const end = plusOne(be16(b));
      if (end) elements.push({ key: be16(a) }, { key: end, flags: 1 });
      else elements.push({ key: be16(a), udata: UDATA_INTERVAL_OPEN });
    }
  }
  // Byte order (big endian), merge flag for intervals, typeof <proto> <dir> (payload expression).
  const typeof_ = Buffer.from([3, 20, 0, 4, 7, 0, 0, 0, 1, 12, 0, 4, PROTO_DESC[proto], 0, 0, 0, 1, 4, 0, 0, 0, 0]);
  typeof_[18] = dir === "sport" ? 1 : 2;
  const head = interval ? [0, 4, 2, 0, 0, 0, 2, 4, 1, 0, 0, 0] : [0, 4, 2, 0, 0, 0];
  const udata = Buffer.concat([Buffer.from(head), typeof_]);
  return { keyType: 13, keyLen: 2, interval, elements, udata };
}

/** `icmp[v6] type . icmp[v6] code { t . c, … }`: icmp_type . icmp_code keys (4-byte slots), typeof both fields. */
export function typeCodeSetDef(proto: "icmp" | "icmpv6", elements: readonly WireElement[]): AnonSetDef {
  const desc = proto === "icmp" ? 4 : 14;
  // Each field's typeof nest is numbered by its position (0, 1), as nft 1.0.6 writes it.
  const field = (n: number) => [n - 1, 20, 0, 4, 7, 0, 0, 0, 1, 12, 0, 4, desc, 0, 0, 0, 1, 4, n, 0, 0, 0];
  const udata = Buffer.from([0, 4, 0, 0, 0, 0, 3, 52, 0, 4, 13, 0, 0, 0, 1, 44, ...field(1), ...field(2)]);
  const keyType = proto === "icmp" ? (14 << 6) | 32 : (29 << 6) | 33;
  return { keyType, keyLen: 8, interval: false, elements, udata };
}
