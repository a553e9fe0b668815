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
//           INPUT, OUTPUT (IPv4, localhost node ports) ─► cali-FIREWALL: drop
//                                          what reaches 127.0.0.0/8 from elsewhere
//                                          without DNAT (kube-proxy's KUBE-FIREWALL,
//                                          the route_localnet hole, CVE-2020-8558)
//
// Node ports: the last rule of nat cali-SERVICES sends traffic to a local
// address (or to each --nodeport-addresses IP) to cali-NODEPORTS; 127.0.0.1
// is one of them unless localhost node ports are off (never ::1).
//
// Policy keeps applying after DNAT: nat PREROUTING rewrites the destination
// before filter FORWARD, where cali-FORWARD polices the real endpoint.

import { EVERY_NAT_SHARD } from "../../model/nat-shards.js";
import { Actions, type Chain, match, NO_MATCH, type Rule, rule } from "../../model/rule.js";
import type { TableName } from "../../model/tables.js";
import type { IpVersion } from "../model.js";
import { DEFAULT_KUBE_PROXY_OPTIONS, type KubeProxyOptions } from "../services/model.js";
import {
  EXTERNAL_SERVICES_CHAIN,
  MARK_MASQ_CHAIN,
  MASQUERADE_CHAIN,
  NODEPORTS_CHAIN,
  PROXY_FIREWALL_CHAIN,
  PROXY_FORWARD_CHAIN,
  SERVICES_CHAIN,
} from "../services/names.js";
import { localhostNodePorts } from "../services/node-port-addresses.js";

/** kube-proxy's KUBE-FIREWALL (filter; only the localnet rule, as kube-proxy writes it). */
export const LOCALNET_FIREWALL_CHAIN = "cali-FIREWALL";

/** How the node-port rule of nat cali-SERVICES matches its destinations. */
export interface NodePortDispatch {
  /** 127.0.0.1 answers node ports (IPv4). */
  readonly localhost: boolean;
  /** --nodeport-addresses resolved; undefined: every local address. */
  readonly ips?: readonly string[];
}

import { MARK_MASQ as DEFAULT_MARK_MASQ } from "./marks.js";
import type { ServicePortRules } from "./services.js";
import { shardNatDispatch } from "./services-shards.js";
import type { StaticTable } from "./static.js";

export type Hooks = Record<string, { insert: readonly Rule[]; append: readonly Rule[] }>;

const jump = (chain: string, comment?: string) => rule(NO_MATCH, Actions.jump(chain), comment);
const jumpNew = (chain: string) => rule(match().ctState("NEW").build(), Actions.jump(chain));

/** The dispatch chains for these fragments (sorted by the caller). */
export function serviceDispatchChains(
  v: IpVersion,
  fragments: readonly ServicePortRules[],
  nodePorts: NodePortDispatch = { localhost: false },
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
  const toNodePorts = nodePortJumps(v, nodePorts, NODEPORTS_CHAIN);
  return {
    nat: [
      { name: SERVICES_CHAIN, rules: [...all("natServices"), ...toNodePorts] },
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

/** The rules sending traffic to a node-port address on to `chain` (the last of nat cali-SERVICES, unsharded). */
export function nodePortJumps(v: IpVersion, nodePorts: NodePortDispatch, chain: string): Rule[] {
  const last = "kubernetes service nodeports; NOTE: this must be the last rule in this chain";
  const localhost = v === 4 && nodePorts.localhost;
  const out: Rule[] = [];
  if (nodePorts.ips === undefined) {
    const m = localhost
      ? match().destAddrTypeLocal()
      : match()
          .destNet(v === 4 ? "127.0.0.0/8" : "::1/128", true)
          .destAddrTypeLocal();
    out.push(rule(m.build(), Actions.jump(chain), last));
  } else {
    for (const ip of nodePorts.ips) {
      const loopback = v === 4 ? ip.startsWith("127.") : ip === "::1";
      if (loopback && !localhost) continue;
      out.push(
        rule(
          match()
            .destNet(v === 4 ? `${ip}/32` : `${ip}/128`)
            .build(),
          Actions.jump(chain),
          last,
        ),
      );
    }
  }
  return out;
}

/**
 * The masquerade pair both rule-based proxy modes share: `markChain` sets the
 * mark, `masqChain` (from cali-POSTROUTING, first) masquerades what carries it.
 */
export function masqueradeChains(
  markChain: string,
  masqChain: string,
  MARK_MASQ: number,
  randomFully: boolean,
  /** The nat tables are sharded: every one needs the mark chain (a jump cannot leave its table). */
  sharded = false,
): Chain[] {
  const mark: Chain = { name: markChain, rules: [rule(NO_MATCH, Actions.setMark(MARK_MASQ))] };
  return [
    sharded ? { ...mark, natShard: EVERY_NAT_SHARD } : mark,
    {
      name: masqChain,
      rules: [
        rule(match().mark(MARK_MASQ, MARK_MASQ, true).build(), Actions.return),
        // Cleared so a packet that goes through the stack again is not masqueraded twice.
        rule(NO_MATCH, Actions.clearMark(MARK_MASQ)),
        rule(NO_MATCH, Actions.masquerade({ randomFully }), "kubernetes service traffic requiring SNAT"),
      ],
    },
  ];
}

/** kube-proxy's KUBE-FORWARD, in both rule-based proxy modes: the INVALID drop, service traffic and its replies accepted. */
export function proxyForwardChain(MARK_MASQ: number, kubeProxy: KubeProxyOptions): Chain {
  // With tcp_be_liberal the kernel marks fewer packets INVALID and kube-proxy keeps them.
  const invalid = kubeProxy.conntrackTCPLiberal ? [] : [rule(match().ctState("INVALID").build(), Actions.drop)];
  return {
    name: PROXY_FORWARD_CHAIN,
    rules: [
      ...invalid,
      rule(match().mark(MARK_MASQ, MARK_MASQ).build(), Actions.accept, "kubernetes forwarding rules"),
      rule(match().ctState("RELATED,ESTABLISHED").build(), Actions.accept, "kubernetes forwarding conntrack rule"),
    ],
  };
}

/** `rules` put right after the first of our hook rules of built-in `b` (our cali-INPUT / cali-FORWARD / cali-OUTPUT jump). */
export function afterFirstHook(hooks: Hooks, b: string, rules: readonly Rule[]): void {
  const h = hooks[b] ?? { insert: [], append: [] };
  hooks[b] = { insert: [...h.insert.slice(0, 1), ...rules, ...h.insert.slice(1)], append: h.append };
}

/** `tables` (rules/static.ts's) plus the iptables proxy mode's chains and hooks. */
export function withServiceTables(
  tables: Record<TableName, StaticTable>,
  v: IpVersion,
  /** The masquerade mark (from iptablesMarkMask; outside the policy marks). */
  MARK_MASQ: number = DEFAULT_MARK_MASQ,
  /** MASQUERADE --random-fully works here (Felix's MASQFullyRandom feature). */
  randomFully = true,
  kubeProxy: KubeProxyOptions = DEFAULT_KUBE_PROXY_OPTIONS,
  /** Nat tables the dataplane spreads the services over (model/nat-shards.ts). */
  natShards = 1,
): Record<TableName, StaticTable> {
  const localhost = v === 4 && localhostNodePorts(kubeProxy.localhostNodePorts, kubeProxy.nodePortAddresses);
  // The node-port rule as it is before any node address is known; the services renderer rewrites it.
  const nodePorts: NodePortDispatch = {
    localhost,
    ...(kubeProxy.nodePortAddresses.kind === "all" ? {} : { ips: [] }),
  };
  const dispatch = serviceDispatchChains(v, [], nodePorts);
  // Sharded: shard 0's dispatch, its node ports in a later hook; the others come with their services.
  const shard0 = natShards > 1 ? shardNatDispatch(v, 0, [], nodePorts) : undefined;
  const natChains: Chain[] = tables.nat.chains.map((c) =>
    c.name === "cali-POSTROUTING" ? { name: c.name, rules: [jump(MASQUERADE_CHAIN), ...c.rules] } : c,
  );
  natChains.push(
    ...(shard0?.chains ?? dispatch.nat),
    ...masqueradeChains(MARK_MASQ_CHAIN, MASQUERADE_CHAIN, MARK_MASQ, randomFully, natShards > 1),
  );
  const portals = jump(SERVICES_CHAIN, "kubernetes service portals");
  const natHooks: Hooks = { ...tables.nat.hooks, ...shard0?.hooks };
  for (const b of ["PREROUTING", "OUTPUT"]) {
    const h = natHooks[b] ?? { insert: [], append: [] };
    natHooks[b] = { insert: [portals, ...h.insert], append: h.append };
  }

  const filterHooks: Hooks = { ...tables.filter.hooks };
  const after = (b: string, rules: Rule[]) => afterFirstHook(filterHooks, b, rules);
  const localnet = localhost ? [jump(LOCALNET_FIREWALL_CHAIN)] : [];
  after("INPUT", [
    ...localnet,
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
  after("OUTPUT", [...localnet, jumpNew(PROXY_FIREWALL_CHAIN), jumpNew(SERVICES_CHAIN)]);
  const localnetChain: Chain[] = localhost
    ? [
        {
          name: LOCALNET_FIREWALL_CHAIN,
          rules: [
            rule(
              match()
                .sourceNet("127.0.0.0/8", true)
                .destNet("127.0.0.0/8")
                .ctState("RELATED,ESTABLISHED,DNAT", true)
                .build(),
              Actions.drop,
              "block incoming localnet connections",
            ),
          ],
        },
      ]
    : [];

  return {
    ...tables,
    nat: { chains: natChains, hooks: natHooks },
    filter: {
      chains: [...tables.filter.chains, ...dispatch.filter, ...localnetChain, proxyForwardChain(MARK_MASQ, kubeProxy)],
      hooks: filterHooks,
    },
  };
}
