// kube-proxy's nft-only objects (plan-objects.ts: verdict maps, affinity and
// address sets) on the wire. The object planner gives them as nft text
// commands; only its exact forms are read here (anything else throws
// NetlinkUnsupported and the transaction goes through `nft -f`), and each
// becomes the messages nft 1.0.6 sends for it (`nft --debug=mnl`): a map with
// NFT_SET_MAP, data type verdict and nft's user data, an affinity set with
// NFT_SET_TIMEOUT|NFT_SET_EVAL, size 65535 and its timeout in ms, map
// elements `key : verdict` with NFTA_SET_ELEM_DATA.

import type { NftFamily, NftWriteContext } from "../backend.js";
import { NFT_TABLE } from "../names.js";
import { type Attr, attr, u32be, u64be } from "./codec.js";
import {
  type KeyLayout,
  keyLayout,
  NetlinkUnsupported,
  NFT_DATA_VERDICT,
  NFT_SET_EVAL,
  NFT_SET_MAP,
  NFT_SET_TIMEOUT,
  setAttrs,
  type WireElement,
  wireElements,
} from "./elements.js";
import { Verdict } from "./exprs.js";

/** A verdict map's user data: key and data byte order "invalid", nft 1.0.6's typeof bytes, data interval 0. */
const UDATA_VMAP = Buffer.from("000400000000010400000000030800040d0000000100060400000000", "hex");
const NAME = "([A-Za-z][A-Za-z0-9_./-]{0,254})";
const CHAIN = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,254}$/;

/** What an object command becomes; the caller adds table, ids and chunks the elements. */
export type ObjectOp =
  | { readonly op: "delete set"; readonly set: string }
  | { readonly op: "add set"; readonly set: string; readonly attrs: Attr[] }
  | { readonly op: "add element" | "delete element"; readonly set: string; readonly wire: WireElement[] };

/** A map's key layout from its type (`ipv4_addr . inet_proto . inet_service : verdict`), undefined for a set. */
function mapKey(type: string): KeyLayout | undefined {
  const at = type.indexOf(" : ");
  if (at < 0) return undefined;
  if (type.slice(at + 3) !== "verdict") throw new NetlinkUnsupported(`map type ${JSON.stringify(type)}`);
  return keyLayout(type.slice(0, at), false);
}

/** `goto <chain>`, `jump <chain>` or `drop`, as objects.ts writes a map element's verdict. */
function verdictOf(text: string): WireElement["verdict"] {
  if (text === "drop") return { code: Verdict.drop };
  const [kind, chain, ...rest] = text.split(" ");
  if ((kind !== "goto" && kind !== "jump") || rest.length || !CHAIN.test(chain ?? "")) {
    throw new NetlinkUnsupported(`map verdict ${JSON.stringify(text)}`);
  }
  return { code: Verdict[kind], chain };
}

function elementsOf(type: string, list: string, keysOnly: boolean): WireElement[] {
  const map = mapKey(type);
  const k = map ?? keyLayout(type, false);
  return list.split(", ").map((e) => {
    const at = e.indexOf(" : ");
    if (!map || keysOnly) {
      if (at >= 0) throw new NetlinkUnsupported(`element ${JSON.stringify(e.slice(0, 300))}`);
      return wireElements(k, e)[0];
    }
    if (at < 0) throw new NetlinkUnsupported(`map element ${JSON.stringify(e.slice(0, 300))} without a verdict`);
    return { ...wireElements(k, e.slice(0, at))[0], verdict: verdictOf(e.slice(at + 3)) };
  });
}

/** The NEWSET attributes after table and name (the id goes before the user data, as nft sends it). */
function declAttrs(kind: string, body: string, id: number): Attr[] {
  const m = /^type ([a-z0-9_ .:]+);(?: size 65535; flags dynamic,timeout; timeout (\d{1,7})s;)?$/.exec(body);
  if (!m) throw new NetlinkUnsupported(`${kind} declaration ${JSON.stringify(body.slice(0, 300))}`);
  const map = mapKey(m[1]);
  if ((kind === "map") !== (map !== undefined) || (map && m[2])) {
    throw new NetlinkUnsupported(`${kind} of type ${JSON.stringify(m[1])}`);
  }
  const k = map ?? keyLayout(m[1], false);
  // No intervals: flags, key type, key length, user data.
  const [flags, keyType, keyLen, udata] = setAttrs(k);
  if (map) {
    return [u32be(3, NFT_SET_MAP), keyType, keyLen, u32be(6, NFT_DATA_VERDICT), u32be(7, 0), u32be(10, id)].concat(
      attr(13, UDATA_VMAP),
    );
  }
  if (m[2] === undefined) return [flags, keyType, keyLen, u32be(10, id), udata];
  if (k.fields.length !== 1 || Number(m[2]) < 1) throw new NetlinkUnsupported(`timeout set ${m[1]} ${m[2]}s`);
  return [
    u32be(3, NFT_SET_TIMEOUT | NFT_SET_EVAL),
    keyType,
    keyLen,
    u32be(10, id),
    attr(9, [u32be(1, 65535)]),
    u64be(11, BigInt(m[2]) * 1000n),
    udata,
  ];
}

/** One of plan-objects.ts's text commands as what it does; `nextId` gives a new set's batch id. */
export function objectOp(
  family: NftFamily,
  text: string,
  ctx: NftWriteContext,
  nextId: () => number,
  table = NFT_TABLE,
): ObjectOp {
  const t = `${family} ${table} `;
  let m = new RegExp(`^delete set ${t}${NAME}$`).exec(text);
  if (m) return { op: "delete set", set: m[1] };
  m = new RegExp(`^add (set|map) ${t}${NAME} \\{ (.*) \\}$`).exec(text);
  if (m) return { op: "add set", set: m[2], attrs: declAttrs(m[1], m[3], nextId()) };
  m = new RegExp(`^(add|delete) element ${t}${NAME} \\{ (.+) \\}$`).exec(text);
  if (m) {
    const key = ctx.setKey(m[2], table);
    if (!key || key.interval) throw new NetlinkUnsupported(`elements of ${m[2]}, which the transaction does not know`);
    const op = m[1] === "add" ? "add element" : "delete element";
    return { op, set: m[2], wire: elementsOf(key.type, m[3], op === "delete element") };
  }
  throw new NetlinkUnsupported(`command ${JSON.stringify(text.slice(0, 300))}`);
}
