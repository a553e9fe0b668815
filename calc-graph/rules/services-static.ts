// iptables proxy mode: the fixed service chains, the dispatch chains built
// from every service port's fragments, and the hooks into the built-in chains.
//
//   nat     PREROUTING, OUTPUT (first) ─► cali-SERVICES
//           cali-POSTROUTING (first)   ─► cali-MASQUERADE: masquerade what
//                                          cali-MARK-MASQ marked, clear the bit
//   filter  INPUT   after cali-INPUT:   ─► cali-NODEPORTS (health-check ports),
//                                          cali-PROXY-FIREWALL, cali-EXTERNAL-SERVICES (new)
//           FORWARD after cali-FORWARD: ─► cali-PROXY-FIREWALL, cali-SERVICES,
//                                          cali-EXTERNAL-SERVICES (new), then
//                                          cali-PROXY-FORWARD: ACCEPT service
//                                          traffic marked for masquerade and its
//                                          replies (kube-proxy's KUBE-FORWARD: node
//                                          ports work under a DROP FORWARD policy);
//                                          policy has already dropped what it denies
//           OUTPUT  after cali-OUTPUT:  ─► cali-PROXY-FIREWALL, cali-SERVICES (new)
//
// Policy keeps applying after DNAT: nat PREROUTING rewrites the destination
// before filter FORWARD, where cali-FORWARD polices the real endpoint.

import { Actions, type Chain, match, NO_MATCH, type Rule, rule } from "../../model/rule.js";
import type { TableName } from "../../model/tables.js";
import type { IpVersion } from "../model.js";
import {
  EXTERNAL_SERVICES_CHAIN,
  MARK_MASQ_CHAIN,
  MASQUERADE_CHAIN,
  NODEPORTS_CHAIN,
  PROXY_FIREWALL_CHAIN,
  PROXY_FORWARD_CHAIN,
  SERVICES_CHAIN,
} from "../services/names.js";
import { MARK_MASQ as DEFAULT_MARK_MASQ } from "./marks.js";
import type { ServicePortRules } from "./services.js";
import type { StaticTable } from "./static.js";

type Hooks = Record<string, { insert: readonly Rule[]; append: readonly Rule[] }>;

const jump = (chain: string, comment?: string) => rule(NO_MATCH, Actions.jump(chain), comment);
const jumpNew = (chain: string) => rule(match().ctState("NEW").build(), Actions.jump(chain));

/** The dispatch chains for these fragments (sorted by the caller). */
export function serviceDispatchChains(
  v: IpVersion,
  fragments: readonly ServicePortRules[],
): { nat: Chain[]; filter: Chain[] } {
  // One pass over every service's fragments (thousands at scale, on every service change).
  const parts = {
    natServices: [] as Rule[],
    natNodePorts: [] as Rule[],
    filterServices: [] as Rule[],
    filterExternal: [] as Rule[],
    filterNodePorts: [] as Rule[],
    filterFirewall: [] as Rule[],
  };
  const kinds = Object.keys(parts) as (keyof typeof parts)[];
  for (const f of fragments) for (const k of kinds) for (const r of f[k]) parts[k].push(r);
  const all = (k: keyof typeof parts) => parts[k];
  const notLoopback = match()
    .destNet(v === 4 ? "127.0.0.0/8" : "::1/128", true)
    .destAddrTypeLocal()
    .build();
  return {
    nat: [
      {
        name: SERVICES_CHAIN,
        rules: [
          ...all("natServices"),
          rule(
            notLoopback,
            Actions.jump(NODEPORTS_CHAIN),
            "kubernetes service nodeports; NOTE: this must be the last rule in this chain",
          ),
        ],
      },
      { name: NODEPORTS_CHAIN, rules: all("natNodePorts") },
    ],
    filter: [
      { name: SERVICES_CHAIN, rules: all("filterServices") },
      { name: EXTERNAL_SERVICES_CHAIN, rules: all("filterExternal") },
      { name: NODEPORTS_CHAIN, rules: all("filterNodePorts") },
      { name: PROXY_FIREWALL_CHAIN, rules: all("filterFirewall") },
    ],
  };
}

/** `tables` (rules/static.ts's) plus the iptables proxy mode's chains and hooks. */
export function withServiceTables(
  tables: Record<TableName, StaticTable>,
  v: IpVersion,
  /** The masquerade mark (from iptablesMarkMask; outside the policy marks). */
  MARK_MASQ: number = DEFAULT_MARK_MASQ,
  /** MASQUERADE --random-fully works here (Felix's MASQFullyRandom feature). */
  randomFully = true,
): Record<TableName, StaticTable> {
  const dispatch = serviceDispatchChains(v, []);
  const masq = match().mark(MARK_MASQ, MARK_MASQ, true).build();
  const natChains: Chain[] = tables.nat.chains.map((c) =>
    c.name === "cali-POSTROUTING" ? { name: c.name, rules: [jump(MASQUERADE_CHAIN), ...c.rules] } : c,
  );
  natChains.push(...dispatch.nat, { name: MARK_MASQ_CHAIN, rules: [rule(NO_MATCH, Actions.setMark(MARK_MASQ))] });
  natChains.push({
    name: MASQUERADE_CHAIN,
    rules: [
      rule(masq, Actions.return),
      // Cleared so a packet that goes through the stack again is not masqueraded twice.
      rule(NO_MATCH, Actions.clearMark(MARK_MASQ)),
      rule(NO_MATCH, Actions.masquerade({ randomFully }), "kubernetes service traffic requiring SNAT"),
    ],
  });
  const portals = jump(SERVICES_CHAIN, "kubernetes service portals");
  const natHooks: Hooks = { ...tables.nat.hooks };
  for (const b of ["PREROUTING", "OUTPUT"]) {
    const h = natHooks[b] ?? { insert: [], append: [] };
    natHooks[b] = { insert: [portals, ...h.insert], append: h.append };
  }

  const filterHooks: Hooks = { ...tables.filter.hooks };
  const after = (b: string, rules: Rule[]) => {
    const h = filterHooks[b] ?? { insert: [], append: [] };
    filterHooks[b] = { insert: [...h.insert.slice(0, 1), ...rules, ...h.insert.slice(1)], append: h.append };
  };
  after("INPUT", [
    jump(NODEPORTS_CHAIN, "kubernetes health check service ports"),
    jumpNew(PROXY_FIREWALL_CHAIN),
    jumpNew(EXTERNAL_SERVICES_CHAIN),
  ]);
  after("FORWARD", [
    jumpNew(PROXY_FIREWALL_CHAIN),
    jumpNew(SERVICES_CHAIN),
    jumpNew(EXTERNAL_SERVICES_CHAIN),
    jump(PROXY_FORWARD_CHAIN),
  ]);
  after("OUTPUT", [jumpNew(PROXY_FIREWALL_CHAIN), jumpNew(SERVICES_CHAIN)]);

  return {
    ...tables,
    nat: { chains: natChains, hooks: natHooks },
    filter: {
      chains: [
        ...tables.filter.chains,
        ...dispatch.filter,
        {
          name: PROXY_FORWARD_CHAIN,
          rules: [
            rule(match().mark(MARK_MASQ, MARK_MASQ).build(), Actions.accept, "kubernetes forwarding rules"),
            rule(
              match().ctState("RELATED,ESTABLISHED").build(),
              Actions.accept,
              "kubernetes forwarding conntrack rule",
            ),
          ],
        },
      ],
      hooks: filterHooks,
    },
  };
}
