// Hand-written nft rule texts and desired states for the nftables kernel-side
// tests (the renderer lands separately): every rule ends in its hash comment.

import type { IpSetState } from "../../model/ipset.js";
import { type IpSets, ipSetsOf, withIpSets } from "../../model/ipset-shards.js";
import {
  type FamilyTables,
  type HookRules,
  type RenderedChain,
  type RenderedRule,
  type TableName,
  tableState,
} from "../../model/tables.js";
import { ExecNftBackend, type NftBackend, type NftFamily } from "../../nftables/backend.js";
import { NFT_TABLES } from "../../nftables/names.js";
import { type NftView, parseNftJson } from "../../nftables/view.js";

export function r(body: string, hash: string): RenderedRule {
  return { text: `${body} comment "cali:${hash}"`, hash };
}

export function chain(name: string, ...rules: RenderedRule[]): RenderedChain {
  return { name, rules };
}

export function tables(
  parts: Partial<Record<TableName, { chains?: RenderedChain[]; hooks?: Record<string, HookRules> }>>,
): FamilyTables {
  const t = (n: TableName) => tableState(parts[n]?.chains ?? [], parts[n]?.hooks ?? {});
  return { raw: t("raw"), mangle: t("mangle"), nat: t("nat"), filter: t("filter") };
}

export function set(name: string, type: IpSetState["type"], members: string[], family: 4 | 6 = 4): IpSetState {
  return { name, family, type, members: new Set(members) };
}

export function sets(...list: IpSetState[]): IpSets {
  return ipSetsOf(list);
}

/** A small policy-shaped ruleset: a FORWARD hook, a dispatch chain, an endpoint chain using two sets. */
export function smallDesired(): { tables: FamilyTables; sets: IpSets } {
  const fw = chain(
    "cali-fw-cali1234",
    r("ct state established,related accept", "fw1"),
    r("ip saddr @cali40s.frontend tcp dport 80 accept", "fw2"),
    r("ip daddr . meta l4proto . th dport @cali40n.web accept", "fw3"),
    r("drop", "fw4"),
  );
  const dispatch = chain(
    "cali-from-wl-dispatch",
    r('iifname "cali1234" goto filter-cali-fw-cali1234', "d1"),
    r("drop", "d2"),
  );
  const fwd = chain("cali-FORWARD", r('iifname "cali*" jump filter-cali-from-wl-dispatch', "f1"));
  return {
    tables: tables({
      filter: {
        chains: [fw, dispatch, fwd],
        hooks: { FORWARD: { insert: [r("jump filter-cali-FORWARD", "h1")], append: [] } },
      },
      nat: {
        chains: [chain("cali-nat-outgoing", r("ip saddr @cali40s.pools ip daddr != @cali40s.pools masquerade", "n1"))],
        hooks: { POSTROUTING: { insert: [r("jump nat-cali-nat-outgoing", "h2")], append: [] } },
      },
    }),
    sets: sets(
      set("cali40s:frontend", "hash:net", ["10.0.1.1", "10.0.1.2/32", "10.0.2.0/24"]),
      set("cali40n:web", "hash:ip,port", ["10.0.1.5,tcp:80", "10.0.1.6,tcp:8080"]),
      set("cali40s:pools", "hash:net", ["10.0.0.0/16", "10.0.1.1"]),
      set("cali60s:frontend", "hash:net", ["fd00::1"], 6),
    ),
  };
}

/**
 * smallDesired plus an OUTPUT hook dropping what goes to `@cali40s.blocked`;
 * `sets(...members)` is the desired sets with that set holding `members`.
 * With SEND_UDP (to 127.0.0.5) a test sees the kernel follow the set.
 */
export function blockedOutputDesired(): {
  tables: FamilyTables;
  sets: (...members: string[]) => IpSets;
} {
  const d = smallDesired();
  const out = tables({
    filter: {
      chains: [chain("cali-OUTPUT", r("ip daddr @cali40s.blocked counter drop", "o1"))],
      hooks: { OUTPUT: { insert: [r("counter jump filter-cali-OUTPUT", "h3")], append: [] } },
    },
  }).filter;
  return {
    tables: {
      ...d.tables,
      filter: {
        ...out,
        shards: { ...d.tables.filter.shards, ...out.shards },
        hooks: { ...d.tables.filter.hooks, ...out.hooks },
      },
    },
    sets: (...members) => withIpSets(d.sets, [["cali40s:blocked", set("cali40s:blocked", "hash:net", members)]]),
  };
}

/** python3 arguments sending one UDP datagram to 127.0.0.5 (EPERM when OUTPUT drops it). */
export const SEND_UDP = [
  "-c",
  "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.5', 9))",
];

/**
 * Our tables of a backend's family (`calico`, `calico-nat`) listed and parsed
 * into one view: chain and set names do not clash across them (a set in both
 * holds the same elements). Undefined when neither table exists.
 */
export async function ourView(b: NftBackend): Promise<NftView | undefined> {
  const out: NftView = { chains: new Map(), sets: new Map() };
  let any = false;
  for (const t of NFT_TABLES) {
    const json = await b.list(t);
    if (json === undefined) continue;
    any = true;
    const v = parseNftJson(json);
    for (const [k, c] of v.chains) out.chains.set(k, c);
    for (const [k, s] of v.sets) out.sets.set(k, s);
  }
  return any ? out : undefined;
}

/** ExecNftBackend inside network namespace `ns`, keeping every script it ran. */
export class Recording extends ExecNftBackend {
  readonly scripts: string[] = [];
  constructor(family: NftFamily, ns: string) {
    super(family, ["ip", "netns", "exec", ns]);
  }
  override async transact(script: string) {
    this.scripts.push(script);
    await super.transact(script);
  }
  /** A whole-table load, streamed: kept as the text nft was given. */
  override async transactParts(parts: Iterable<string>, onSent?: () => void) {
    const sent: string[] = [];
    function* keep() {
      for (const p of parts) yield sent[sent.push(p) - 1];
    }
    try {
      await super.transactParts(keep(), onSent);
    } finally {
      this.scripts.push(sent.join(""));
    }
  }
}
