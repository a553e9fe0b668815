// Dispatch chains: send traffic from/to each workload interface to its
// endpoint chain. Interfaces are grouped by their prefix (`interfacePrefix`,
// e.g. `cali,tap`) and the character after it, so that adding a pod rewrites
// one small child chain, not one long list; every chain ends in "Unknown
// interface" (the deny action) so a veth Felix has not programmed carries
// nothing (fail closed).

import type { Action, Chain, Rule } from "../../model/rule.js";
import { Actions, match, NO_MATCH, rule } from "../../model/rule.js";
import { dropPrefix } from "./drop-log.js";
import { endpointChainName, FROM_WORKLOAD_DISPATCH, TO_WORKLOAD_DISPATCH } from "./names.js";

/** iptables' longest chain name. */
const MAX_CHAIN_NAME = 28;

export function renderDispatchChains(
  ifaces: readonly string[],
  prefixes: string | readonly string[],
  deny: Action = Actions.drop,
  /** dropNflogGroup: "Unknown interface" drops are logged first (drop-log.ts). */
  nflogGroup?: number,
): Chain[] {
  const list = typeof prefixes === "string" ? [prefixes] : prefixes;
  return [
    ...dispatchFor("outbound", ifaces, list, deny, nflogGroup),
    ...dispatchFor("inbound", ifaces, list, deny, nflogGroup),
  ];
}

function dispatchFor(
  dir: "inbound" | "outbound",
  ifaces: readonly string[],
  prefixes: readonly string[],
  deny: Action,
  nflogGroup: number | undefined,
): Chain[] {
  const root = dir === "outbound" ? FROM_WORKLOAD_DISPATCH : TO_WORKLOAD_DISPATCH;
  const ifMatch = (name: string) => (dir === "outbound" ? match().inInterface(name) : match().outInterface(name));
  // Group key: the interface's (longest) prefix plus the next character; "" for no prefix (no group).
  const groups = new Map<string, { prefix: string; members: string[] }>();
  for (const iface of [...ifaces].sort()) {
    const prefix = [...prefixes].sort((a, b) => b.length - a.length).find((p) => iface.startsWith(p));
    const key = prefix === undefined ? `\0${iface}` : `${prefix}${iface.charAt(prefix.length)}`;
    const g = groups.get(key) ?? { prefix: prefix ?? "", members: [] };
    g.members.push(iface);
    groups.set(key, g);
  }
  const unknown = rule(NO_MATCH, deny, "Unknown interface");
  // With drop logging the tail is NFLOG then DROP; the prefix names the chain it is in.
  const dropIn = (chain: string): Rule[] => [
    ...(nflogGroup
      ? [rule(NO_MATCH, Actions.nflog(nflogGroup, dropPrefix({ owner: "U", dir: "-", index: 0, chain })))]
      : []),
    unknown,
  ];
  const chains: Chain[] = [];
  const rootRules = [];
  for (const [key, { prefix, members }] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    // The first prefix's children keep Felix's one-character suffix; other prefixes add theirs.
    const child = `${root}-${prefix === prefixes[0] ? key.slice(prefix.length) : key}`;
    if (members.length === 1 || prefix === "" || child.length > MAX_CHAIN_NAME) {
      for (const m of members) rootRules.push(rule(ifMatch(m).build(), Actions.goto(endpointChainName(dir, m))));
      continue;
    }
    rootRules.push(rule(ifMatch(`${key}+`).build(), Actions.goto(child)));
    chains.push({
      name: child,
      rules: [
        ...members.map((m) => rule(ifMatch(m).build(), Actions.goto(endpointChainName(dir, m)))),
        ...dropIn(child),
      ],
    });
  }
  chains.push({ name: root, rules: [...rootRules, ...dropIn(root)] });
  return chains;
}
