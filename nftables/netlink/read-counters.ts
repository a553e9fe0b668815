// Our table's rule counters over netlink: one GETRULE dump of only our table
// (the kernel filters by NFTA_RULE_TABLE), of which only the hash comment (the
// user data) and the counter expression are decoded. `nft -j list` would print
// every expression of every rule as JSON (59 MB at `large`) to give the same.

import type { NftFamily } from "../backend.js";
import type { RuleCounter } from "../counters.js";
import { NFT_TABLE } from "../names.js";
import { commentHash } from "../view.js";
import { attrString, NftMsg, nftType, parseAttrs, str } from "./codec.js";
import { NFPROTO_IPV4, NFPROTO_IPV6 } from "./messages.js";
import { ruleComment } from "./read.js";
import type { NfnlLink } from "./socket.js";

const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
const NFTA_RULE_EXPRESSIONS = 4;
const NFTA_RULE_USERDATA = 7;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFTA_COUNTER_BYTES = 1;
const NFTA_COUNTER_PACKETS = 2;
const ENOENT = 2;

/** Every rule of our `family` table with its counter, in dump order (per chain: the rules' order); null without the table. */
export async function readRuleCounters(conn: NfnlLink, family: NftFamily): Promise<RuleCounter[] | null> {
  let replies: Awaited<ReturnType<NfnlLink["dump"]>>;
  try {
    replies = await conn.dump({
      type: nftType(NftMsg.GETRULE),
      flags: 0,
      family: family === "ip" ? NFPROTO_IPV4 : NFPROTO_IPV6,
      attrs: [str(NFTA_RULE_TABLE, NFT_TABLE)],
    });
  } catch (e) {
    if ((e as { errno?: number }).errno === ENOENT) return null;
    throw e;
  }
  const out: RuleCounter[] = [];
  for (const m of replies) {
    const a = parseAttrs(m.body.subarray(4));
    if (attrString(a.get(NFTA_RULE_TABLE)) !== NFT_TABLE) continue;
    const counter = counterOf(a.get(NFTA_RULE_EXPRESSIONS));
    out.push({
      chain: attrString(a.get(NFTA_RULE_CHAIN)) as string,
      hash: commentHash(ruleComment(a.get(NFTA_RULE_USERDATA))),
      packets: counter?.packets,
      bytes: counter?.bytes,
    });
  }
  return out;
}

/** The first `counter` expression of a rule's expression list. */
function counterOf(list: Buffer | undefined): { packets: number; bytes: number } | undefined {
  if (!list) return undefined;
  for (const elem of parseAttrs(list).all) {
    const e = parseAttrs(elem.payload);
    if (attrString(e.get(NFTA_EXPR_NAME)) !== "counter") continue;
    const data = parseAttrs(e.get(NFTA_EXPR_DATA) ?? Buffer.alloc(0));
    const u64 = (t: number) => Number(data.get(t)?.readBigUInt64BE(0) ?? 0n);
    return { packets: u64(NFTA_COUNTER_PACKETS), bytes: u64(NFTA_COUNTER_BYTES) };
  }
  return undefined;
}
