// kube-proxy's nft-only objects (plan-objects.ts: verdict maps, affinity
// sets) on the wire, from their structured commands, as nft 1.0.6 sends them
// (`nft --debug=mnl`): a map with NFT_SET_MAP, data type verdict and nft's user
// data, an affinity set with NFT_SET_TIMEOUT|NFT_SET_EVAL, size 65535 and its
// timeout in ms, map elements with NFTA_SET_ELEM_DATA (goto/jump + chain, drop).
// (Address sets and element deletes by key are plain set commands.)

import type { NftMapElement } from "../commands.js";
import { type Attr, attr, u32be, u64be } from "./codec.js";
import {
  type KeyLayout,
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
/** An affinity set's timeout: what nft's parser takes (seconds, seven digits). */
const TIMEOUT_MAX = 9_999_999;

/** NEWSET attributes after table and name of a verdict map keyed by `k` (the id before the user data, as nft sends it). */
export function mapAttrs(k: KeyLayout, id: number): Attr[] {
  if (k.interval) throw new NetlinkUnsupported("an interval verdict map");
  const [, keyType, keyLen] = setAttrs(k);
  return [u32be(3, NFT_SET_MAP), keyType, keyLen, u32be(6, NFT_DATA_VERDICT), u32be(7, 0), u32be(10, id)].concat(
    attr(13, UDATA_VMAP),
  );
}

/** NEWSET attributes after table and name of a set `update` fills, its elements forgotten after `seconds`. */
export function timeoutSetAttrs(k: KeyLayout, seconds: number, id: number): Attr[] {
  if (k.interval || k.fields.length !== 1 || !Number.isInteger(seconds) || seconds < 1 || seconds > TIMEOUT_MAX) {
    throw new NetlinkUnsupported(`timeout set of ${k.fields.join(" . ")}, ${seconds}s`);
  }
  const [, keyType, keyLen, udata] = setAttrs(k);
  return [
    u32be(3, NFT_SET_TIMEOUT | NFT_SET_EVAL),
    keyType,
    keyLen,
    u32be(10, id),
    attr(9, [u32be(1, 65535)]),
    u64be(11, BigInt(seconds) * 1000n),
    udata,
  ];
}

/** A map's elements: each key as a set element's bytes, with its verdict. */
export function mapWireElements(k: KeyLayout, elements: readonly NftMapElement[]): WireElement[] {
  return elements.map((e) => {
    const [w, ...rest] = wireElements(k, e.key);
    if (rest.length) throw new NetlinkUnsupported(`map key ${JSON.stringify(e.key.slice(0, 300))}`);
    const v = e.verdict;
    return { ...w, verdict: v.kind === "drop" ? { code: Verdict.drop } : { code: Verdict[v.kind], chain: v.chain } };
  });
}
