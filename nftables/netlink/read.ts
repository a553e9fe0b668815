// The read-back over netlink: dumps of only our table's chains, rules, sets and
// set elements (NFTA_*_TABLE set, so the kernel filters), decoded into the
// syncer's NftView: per chain its hook and its rules' hash comments (from the
// rules' user data; expressions are not decoded), per named set its type and
// elements in the text forms `nft -j` gives (view.ts). It replaces `nft -j list
// table` (at `large`: 59 MB of JSON, ~6 s of CPU, 1.1 GB RSS in nft).

import ipaddr from "ipaddr.js";
import type { NftFamily } from "../backend.js";
import type { BaseChainSpec } from "../chains.js";
import { NFT_TABLE } from "../names.js";
import { commentHash, type NftView, type ViewChain, type ViewSet } from "../view.js";
import { attrString, NftMsg, nftType, parseAttrs, str } from "./codec.js";
import {
  NetlinkUnsupported,
  NFT_DATA_VERDICT,
  NFT_SET_ANONYMOUS,
  NFT_SET_EVAL,
  NFT_SET_INTERVAL,
  NFT_SET_MAP,
  NFT_SET_TIMEOUT,
} from "./elements.js";
import { NFPROTO_IPV4, NFPROTO_IPV6 } from "./messages.js";
import type { NfnlLink } from "./socket.js";

const HOOKS: readonly BaseChainSpec["hook"][] = ["prerouting", "input", "forward", "output", "postrouting"];
const TYPE_NAMES: Readonly<Record<number, string>> = {
  7: "ipv4_addr",
  8: "ipv6_addr",
  12: "inet_proto",
  13: "inet_service",
};
const FIELD_LEN: Readonly<Record<string, number>> = { ipv4_addr: 4, ipv6_addr: 16, inet_proto: 1, inet_service: 2 };
const PROTO_NAMES: Readonly<Record<number, string>> = { 6: "tcp", 17: "udp", 132: "sctp" };
const NFT_SET_OBJECT = 0x40;
const INTERVAL_END = 1;
const ENOENT = 2;

/** Our table `table` of `family` read over netlink; null when there is none. */
export async function readNftView(conn: NfnlLink, family: NftFamily, table = NFT_TABLE): Promise<NftView | null> {
  const nfproto = family === "ip" ? NFPROTO_IPV4 : NFPROTO_IPV6;
  const req = (type: number, tableAttr: number, extra = [] as ReturnType<typeof str>[]) => ({
    type: nftType(type),
    flags: 0,
    family: nfproto,
    attrs: [str(tableAttr, table), ...extra],
  });
  try {
    const tables = await conn.dump(req(NftMsg.GETTABLE, 1));
    if (!tables.some((t) => attrString(parseAttrs(t.body.subarray(4)).get(1)) === table)) return null;
  } catch (e) {
    if ((e as { errno?: number }).errno === ENOENT) return null;
    throw e;
  }
  const chains = new Map<string, ViewChain & { hashes: (string | undefined)[] }>();
  for (const m of await conn.dump(req(NftMsg.GETCHAIN, 1))) {
    const a = parseAttrs(m.body.subarray(4));
    if (attrString(a.get(1)) !== table) continue;
    const name = attrString(a.get(3)) as string;
    chains.set(name, { base: baseOf(a), hashes: [] });
  }
  for (const m of await conn.dump(req(NftMsg.GETRULE, 1))) {
    const a = parseAttrs(m.body.subarray(4));
    if (attrString(a.get(1)) !== table) continue;
    const chain = attrString(a.get(2)) as string;
    const c = chains.get(chain) ?? { hashes: [] };
    chains.set(chain, c);
    c.hashes.push(commentHash(ruleComment(a.get(7))));
  }
  const sets = new Map<string, ViewSet>();
  for (const m of await conn.dump(req(NftMsg.GETSET, 1))) {
    const a = parseAttrs(m.body.subarray(4));
    const flags = a.get(3)?.readUInt32BE(0) ?? 0;
    if (attrString(a.get(1)) !== table || flags & NFT_SET_ANONYMOUS) continue;
    const name = attrString(a.get(2)) as string;
    const key = keyTypeText(a.get(4)?.readUInt32BE(0) ?? 0);
    const interval = (flags & NFT_SET_INTERVAL) !== 0;
    if (flags & NFT_SET_TIMEOUT) {
      // An affinity set: its elements are the kernel's (never drift, view.ts), so they are not read.
      const ms = a.get(11)?.readBigUInt64BE(0);
      if (flags & (NFT_SET_MAP | NFT_SET_OBJECT) || interval || ms === undefined || ms % 1000n !== 0n) {
        throw new NetlinkUnsupported(`timeout set ${name} of flags ${flags}`);
      }
      sets.set(name, { type: key, interval, elements: new Set(), timeout: Number(ms / 1000n) });
      continue;
    }
    const map = (flags & NFT_SET_MAP) !== 0;
    // Other data than verdicts, stateful objects, sets `update` fills without timeouts: not ours, nft -j's to give.
    if (
      flags & (NFT_SET_EVAL | NFT_SET_OBJECT) ||
      (map && (interval || a.get(6)?.readUInt32BE(0) !== NFT_DATA_VERDICT))
    ) {
      throw new NetlinkUnsupported(`set ${name} of flags ${flags} in our table`);
    }
    const type = map ? `${key} : verdict` : key;
    const elems = await conn.dump(req(NftMsg.GETSETELEM, 1, [str(2, name)]));
    const bodies = elems.map((e) => e.body.subarray(4));
    sets.set(name, {
      type,
      interval,
      elements: map ? mapElementTexts(bodies, key) : elementTexts(bodies, key, interval),
    });
  }
  return { chains, sets };
}

function baseOf(a: ReturnType<typeof parseAttrs>): ViewChain["base"] {
  const hook = a.get(4);
  if (!hook) return undefined;
  const h = parseAttrs(hook);
  const num = h.get(1)?.readUInt32BE(0) ?? -1;
  const policy = a.get(5)?.readUInt32BE(0);
  return {
    type: (attrString(a.get(7)) ?? "filter") as BaseChainSpec["type"],
    hook: HOOKS[num] ?? (`hook${num}` as BaseChainSpec["hook"]),
    priority: h.get(2)?.readInt32BE(0) ?? 0,
    policy: policy === 1 ? "accept" : policy === 0 ? "drop" : String(policy),
  };
}

/** NFTNL_UDATA_RULE_COMMENT (type 0) of a rule's user data. */
export function ruleComment(udata: Buffer | undefined): string | undefined {
  let at = 0;
  while (udata && at + 2 <= udata.length) {
    const [type, len] = [udata[at], udata[at + 1]];
    if (type === 0) return attrString(udata.subarray(at + 2, at + 2 + len));
    at += 2 + len;
  }
  return undefined;
}

function keyTypeText(id: number): string {
  const parts: string[] = [];
  for (let v = id; v > 0; v = Math.floor(v / 64)) parts.unshift(TYPE_NAMES[v % 64] ?? `type${v % 64}`);
  return parts.join(" . ") || "invalid";
}

interface Elem {
  readonly key: Buffer;
  readonly end?: Buffer;
  readonly flags: number;
  /** A map element's NFTA_SET_ELEM_DATA. */
  readonly data?: Buffer;
}

function elementsOf(bodies: readonly Buffer[]): Elem[] {
  const out: Elem[] = [];
  for (const b of bodies) {
    const list = parseAttrs(b).get(3);
    if (!list) continue;
    for (const e of parseAttrs(list).all) {
      const a = parseAttrs(e.payload);
      const key = a.get(1) && parseAttrs(a.get(1) as Buffer).get(1);
      if (!key) continue;
      const end = a.get(10) && parseAttrs(a.get(10) as Buffer).get(1);
      out.push({ key, end, flags: a.get(3)?.readUInt32BE(0) ?? 0, data: a.get(2) });
    }
  }
  return out;
}

function fieldText(type: string, b: Buffer): string {
  if (type === "ipv4_addr") return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (type === "ipv6_addr") return ipaddr.fromByteArray([...b]).toString();
  if (type === "inet_proto") return PROTO_NAMES[b[0]] ?? String(b[0]);
  if (type === "inet_service") return String(b.readUInt16BE(0));
  return b.toString("hex");
}

/** first..last as nft lists it: one address, a prefix, or a range. */
function rangeText(type: string, first: Buffer, last: Buffer): string {
  if (first.equals(last)) return fieldText(type, first);
  let bits = first.length * 8;
  // A prefix: first has host bits 0 and last has them 1, the same number of them.
  for (let host = 1; host <= first.length * 8; host++) {
    const i = first.length - 1 - Math.floor((host - 1) / 8);
    const bit = 1 << ((host - 1) % 8);
    if ((first[i] & bit) !== 0 || (last[i] & bit) === 0) break;
    bits = first.length * 8 - host;
  }
  const prefixLast = Buffer.from(first);
  for (let host = 0; host < first.length * 8 - bits; host++) {
    prefixLast[first.length - 1 - Math.floor(host / 8)] |= 1 << (host % 8);
  }
  if (prefixLast.equals(last)) return `${fieldText(type, first)}/${bits}`;
  return `${fieldText(type, first)}-${fieldText(type, last)}`;
}

const VERDICTS: Readonly<Record<number, string>> = { 0: "drop", 1: "accept", [-3]: "jump", [-4]: "goto" };

/** A verdict map's elements as objects.ts writes them: `key : goto <chain>`, `key : drop`. */
function mapElementTexts(bodies: readonly Buffer[], keyType: string): Set<string> {
  const out = new Set<string>();
  for (const e of elementsOf(bodies)) {
    const v = e.data && parseAttrs(e.data).get(2);
    const va = v && parseAttrs(v);
    const kind = VERDICTS[va?.get(1)?.readInt32BE(0) ?? Number.NaN];
    if (!va || !kind) throw new NetlinkUnsupported("a map element without a verdict");
    const chain = attrString(va.get(2));
    const key = elementTexts([], keyType, false, [e]);
    out.add(`${[...key][0]} : ${chain === undefined ? kind : `${kind} ${chain}`}`);
  }
  return out;
}

function elementTexts(
  bodies: readonly Buffer[],
  type: string,
  interval: boolean,
  elems: readonly Elem[] = elementsOf(bodies),
): Set<string> {
  const fields = type.split(" . ");
  const out = new Set<string>();
  if (fields.length > 1) {
    for (const e of elems) {
      let at = 0;
      const parts = fields.map((f) => {
        const len = FIELD_LEN[f] ?? 4;
        const [x, y] = [e.key.subarray(at, at + len), (e.end ?? e.key).subarray(at, at + len)];
        at += (len + 3) & ~3;
        return rangeText(f, x, y);
      });
      out.add(parts.join(" . "));
    }
    return out;
  }
  if (!interval) {
    for (const e of elems) out.add(fieldText(type, e.key));
    return out;
  }
  // One-field intervals: starts and ends (NFT_SET_ELEM_INTERVAL_END) in key order, an end
  // before a start at the same key (adjacent intervals); an end with no start before it is
  // nft's zero marker, a start with no end runs to the last key.
  const sorted = [...elems].sort(
    (x, y) => Buffer.compare(x.key, y.key) || (y.flags & INTERVAL_END) - (x.flags & INTERVAL_END),
  );
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i];
    if (e.flags & INTERVAL_END) continue;
    const next = sorted[i + 1];
    let last: Buffer;
    if (next && next.flags & INTERVAL_END) {
      last = minusOne(next.key);
      i++;
    } else last = Buffer.alloc(e.key.length, 0xff);
    out.add(rangeText(type, e.key, last));
  }
  return out;
}

function minusOne(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] > 0) {
      out[i]--;
      return out;
    }
    out[i] = 0xff;
  }
  return out;
}
