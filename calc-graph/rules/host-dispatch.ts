// Host endpoint dispatch chains (Felix's hostDispatchChains): one goto per
// interface with a host endpoint; a packet of any other interface returns
// (host endpoints police only their own interfaces), unless an all-interfaces
// (`*`) endpoint exists: then the end goes to its chains. The lists are flat
// (Felix builds a prefix tree for hundreds of interfaces; a node has few).
//
//   filter  cali-from-host-endpoint / cali-to-host-endpoint   (cali-fh-/cali-th-)
//           cali-from-hep-forward / cali-to-hep-forward       (cali-fhfw-/cali-thfw-)
//   mangle  cali-from-host-endpoint: interfaces with preDNAT policy
//           cali-to-host-endpoint: all; traffic to a local workload never
//           gets the `*` endpoint's egress policy
//   raw     both directions: interfaces with doNotTrack policy (never `*`)

import { Actions, type Chain, match, NO_MATCH, type Rule, rule } from "../../model/rule.js";
import type { TableName } from "../../model/tables.js";
import {
  DISPATCH_FROM_HOST_ENDPOINT,
  DISPATCH_FROM_HOST_ENDPOINT_FORWARD,
  DISPATCH_TO_HOST_ENDPOINT,
  DISPATCH_TO_HOST_ENDPOINT_FORWARD,
  HOST_FROM_ENDPOINT_FORWARD_PREFIX,
  HOST_FROM_ENDPOINT_PREFIX,
  HOST_TO_ENDPOINT_FORWARD_PREFIX,
  HOST_TO_ENDPOINT_PREFIX,
  hostChainName,
} from "./host-endpoint-names.js";

const ALL = "*";

function dispatch(
  name: string,
  dir: "from" | "to",
  ifaces: readonly string[],
  chainPrefix: string,
  end: readonly Rule[],
): Chain {
  const rules: Rule[] = [];
  for (const iface of ifaces) {
    if (iface === ALL) continue;
    const m = dir === "from" ? match().inInterface(iface) : match().outInterface(iface);
    rules.push(rule(m.build(), Actions.goto(hostChainName(chainPrefix, iface))));
  }
  return { name, rules: [...rules, ...end] };
}

const toDefault = (ifaces: readonly string[], prefix: string): Rule[] =>
  ifaces.includes(ALL) ? [rule(NO_MATCH, Actions.goto(hostChainName(prefix, ALL)))] : [];

/**
 * The dispatch chains of one table. `ifaces`: every host endpoint interface
 * (`*` included); `preDNAT` / `untracked`: those with such policy.
 */
export function hostDispatchChains(
  table: TableName,
  ifaces: readonly string[],
  preDNAT: readonly string[],
  untracked: readonly string[],
  workloadPrefixes: readonly string[],
): Chain[] {
  const sorted = (l: readonly string[]) => [...l].sort();
  switch (table) {
    case "filter": {
      const all = sorted(ifaces);
      return [
        dispatch(
          DISPATCH_FROM_HOST_ENDPOINT,
          "from",
          all,
          HOST_FROM_ENDPOINT_PREFIX,
          toDefault(all, HOST_FROM_ENDPOINT_PREFIX),
        ),
        dispatch(
          DISPATCH_TO_HOST_ENDPOINT,
          "to",
          all,
          HOST_TO_ENDPOINT_PREFIX,
          toDefault(all, HOST_TO_ENDPOINT_PREFIX),
        ),
        dispatch(
          DISPATCH_FROM_HOST_ENDPOINT_FORWARD,
          "from",
          all,
          HOST_FROM_ENDPOINT_FORWARD_PREFIX,
          toDefault(all, HOST_FROM_ENDPOINT_FORWARD_PREFIX),
        ),
        dispatch(
          DISPATCH_TO_HOST_ENDPOINT_FORWARD,
          "to",
          all,
          HOST_TO_ENDPOINT_FORWARD_PREFIX,
          toDefault(all, HOST_TO_ENDPOINT_FORWARD_PREFIX),
        ),
      ];
    }
    case "mangle": {
      const pre = sorted(preDNAT);
      const all = sorted(ifaces);
      const skipWorkloads = all.includes(ALL)
        ? workloadPrefixes.map((p) =>
            rule(
              match().outInterface(`${p}+`).build(),
              Actions.return,
              "Skip egress WHEP policy for traffic to local workload",
            ),
          )
        : [];
      return [
        dispatch(
          DISPATCH_FROM_HOST_ENDPOINT,
          "from",
          pre,
          HOST_FROM_ENDPOINT_PREFIX,
          toDefault(pre, HOST_FROM_ENDPOINT_PREFIX),
        ),
        dispatch(DISPATCH_TO_HOST_ENDPOINT, "to", all, HOST_TO_ENDPOINT_PREFIX, [
          ...skipWorkloads,
          ...toDefault(all, HOST_TO_ENDPOINT_PREFIX),
        ]),
      ];
    }
    case "raw": {
      const un = sorted(untracked.filter((i) => i !== ALL));
      return [
        dispatch(DISPATCH_FROM_HOST_ENDPOINT, "from", un, HOST_FROM_ENDPOINT_PREFIX, []),
        dispatch(DISPATCH_TO_HOST_ENDPOINT, "to", un, HOST_TO_ENDPOINT_PREFIX, []),
      ];
    }
    default:
      return [];
  }
}
