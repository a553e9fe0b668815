// Dispatch chains: send traffic from/to each `cali*` interface to its
// endpoint chain. Interfaces are grouped by the character after the prefix so
// that adding a pod rewrites one small child chain, not one long list; every
// chain ends in "Unknown interface" DROP so a veth Felix has not programmed
// carries nothing (fail closed).

import type { Chain } from "../../iptables/rule.js";
import { Actions, match, NO_MATCH, rule } from "../../iptables/rule.js";
import { endpointChainName, FROM_WORKLOAD_DISPATCH, TO_WORKLOAD_DISPATCH } from "./names.js";

export function renderDispatchChains(ifaces: readonly string[], prefix: string): Chain[] {
  return [...dispatchFor("outbound", ifaces, prefix), ...dispatchFor("inbound", ifaces, prefix)];
}

function dispatchFor(dir: "inbound" | "outbound", ifaces: readonly string[], prefix: string): Chain[] {
  const root = dir === "outbound" ? FROM_WORKLOAD_DISPATCH : TO_WORKLOAD_DISPATCH;
  const ifMatch = (name: string) => (dir === "outbound" ? match().inInterface(name) : match().outInterface(name));
  const groups = new Map<string, string[]>();
  for (const iface of [...ifaces].sort()) {
    const key = iface.charAt(prefix.length);
    groups.set(key, [...(groups.get(key) ?? []), iface]);
  }
  const drop = rule(NO_MATCH, Actions.drop, "Unknown interface");
  const chains: Chain[] = [];
  const rootRules = [];
  for (const [key, members] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (members.length === 1) {
      rootRules.push(rule(ifMatch(members[0]).build(), Actions.goto(endpointChainName(dir, members[0]))));
      continue;
    }
    const child = `${root}-${key}`;
    rootRules.push(rule(ifMatch(`${prefix}${key}+`).build(), Actions.goto(child)));
    chains.push({
      name: child,
      rules: [...members.map((m) => rule(ifMatch(m).build(), Actions.goto(endpointChainName(dir, m)))), drop],
    });
  }
  chains.push({ name: root, rules: [...rootRules, drop] });
  return chains;
}
