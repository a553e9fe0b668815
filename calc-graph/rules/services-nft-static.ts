// nftables proxy mode (FELIX_PROXYMODE=nftables): kube-proxy's fixed chains
// and maps in our table, and the hooks into our base chains.
//
//   nat     PREROUTING, OUTPUT (first) ─► services: `ip daddr . meta l4proto . th dport vmap @service-ips`,
//                                          then to a node address `meta l4proto . th dport vmap @service-nodeports`
//           cali-POSTROUTING (first)   ─► masquerading: masquerade what mark-for-masquerade marked
//   mangle  PREROUTING, OUTPUT (first, ct state new) ─► firewall-check: `vmap @firewall-ips`
//           (before DNAT, as kube-proxy's filter-prerouting at dstnat-10)
//   filter  INPUT, FORWARD, OUTPUT after cali-*: ct state new ─► service-endpoints-check:
//           `vmap @no-endpoint-services` (reject-chain or drop); INPUT also ─► nodeport-endpoints-check:
//           `vmap @no-endpoint-nodeports` (a node port is always local delivery: INPUT, also from this host);
//           FORWARD, OUTPUT then ─► cluster-ips-check: `ip daddr @cluster-ips reject` (a cluster IP on a
//           port no service has: after DNAT only such traffic still has a cluster IP as destination);
//           INPUT ─► nodeport-health-checks (ours, as the iptables mode);
//           FORWARD ─► cali-PROXY-FORWARD (the iptables mode's INVALID drop and accepts)
//
// Node ports: every local address but 127.0.0.0/8 and ::1 (kube-proxy's
// nftables mode has no localhost node ports), or each --nodeport-addresses IP.
// The masquerade mark is Felix's (iptablesMarkMask), not kube-proxy's 0x4000.

import type { VerdictMapState } from "../../model/nft-objects.js";
// kube-proxy renders its nft rules without counters: every rule here is built uncounted.
import { Actions, type Chain, match, NO_MATCH, type Rule, uncountedRule as rule } from "../../model/rule.js";
import type { TableName } from "../../model/tables.js";
import type { IpVersion } from "../model.js";
import { DEFAULT_KUBE_PROXY_OPTIONS, type KubeProxyOptions } from "../services/model.js";
import { PROXY_FORWARD_CHAIN } from "../services/names.js";
import {
  CLUSTER_IPS_SET,
  FIREWALL_IPS_MAP,
  NFT_CLUSTER_IPS_CHECK_CHAIN,
  NFT_FIREWALL_CHECK_CHAIN,
  NFT_HEALTH_CHECK_CHAIN,
  NFT_MARK_MASQ_CHAIN,
  NFT_MASQUERADING_CHAIN,
  NFT_NODEPORT_ENDPOINTS_CHECK_CHAIN,
  NFT_REJECT_CHAIN,
  NFT_SERVICE_ENDPOINTS_CHECK_CHAIN,
  NFT_SERVICES_CHAIN,
  NO_ENDPOINT_NODEPORTS_MAP,
  NO_ENDPOINT_SERVICES_MAP,
  SERVICE_IPS_MAP,
  SERVICE_NODEPORTS_MAP,
} from "../services/nft-names.js";
import { MARK_MASQ as DEFAULT_MARK_MASQ } from "./marks.js";
import { nftShardNatDispatch } from "./services-shards.js";
import { afterFirstHook, type Hooks, masqueradeChains, proxyForwardChain } from "./services-static.js";
import type { StaticTable } from "./static.js";

/** The five verdict maps of a family, empty: their elements come from the service ports. */
export function emptyServiceMaps(v: IpVersion): VerdictMapState[] {
  const map = (name: string, key: VerdictMapState["key"], table: TableName): VerdictMapState => ({
    kind: "vmap",
    name,
    family: v,
    key,
    table,
    elements: new Map(),
  });
  return [
    map(SERVICE_IPS_MAP, "daddr.proto.dport", "nat"),
    map(SERVICE_NODEPORTS_MAP, "proto.dport", "nat"),
    map(NO_ENDPOINT_SERVICES_MAP, "daddr.proto.dport", "filter"),
    map(NO_ENDPOINT_NODEPORTS_MAP, "proto.dport", "filter"),
    map(FIREWALL_IPS_MAP, "daddr.proto.dport", "mangle"),
  ];
}

/** Which map each service-port element goes to, with the table its verdicts' chains are in. */
export const SERVICE_MAP_TABLES: Readonly<Record<string, TableName>> = {
  [SERVICE_IPS_MAP]: "nat",
  [SERVICE_NODEPORTS_MAP]: "nat",
  [NO_ENDPOINT_SERVICES_MAP]: "filter",
  [NO_ENDPOINT_NODEPORTS_MAP]: "filter",
  [FIREWALL_IPS_MAP]: "mangle",
};

/** The chains that change with the node-port addresses or the health-check ports. */
export function nftServiceDispatchChains(
  v: IpVersion,
  healthChecks: readonly Rule[],
  nodePortIPs: readonly string[] | undefined,
): { nat: Chain[]; filter: Chain[] } {
  const toNodePorts = (map: string) => nftNodePortLookups(v, nodePortIPs, map);
  return {
    nat: [
      {
        name: NFT_SERVICES_CHAIN,
        rules: [
          rule(NO_MATCH, Actions.vmap("daddr.proto.dport", SERVICE_IPS_MAP)),
          ...toNodePorts(SERVICE_NODEPORTS_MAP),
        ],
      },
    ],
    filter: [
      {
        name: NFT_SERVICE_ENDPOINTS_CHECK_CHAIN,
        rules: [rule(NO_MATCH, Actions.vmap("daddr.proto.dport", NO_ENDPOINT_SERVICES_MAP))],
      },
      { name: NFT_NODEPORT_ENDPOINTS_CHECK_CHAIN, rules: toNodePorts(NO_ENDPOINT_NODEPORTS_MAP) },
      { name: NFT_HEALTH_CHECK_CHAIN, rules: healthChecks },
    ],
  };
}

/** The node-port lookups of `map` (`meta l4proto . th dport vmap @map`) for traffic to a node-port address. */
export function nftNodePortLookups(v: IpVersion, nodePortIPs: readonly string[] | undefined, map: string): Rule[] {
  const lookup = Actions.vmap("proto.dport", map);
  if (nodePortIPs === undefined) {
    const m = match()
      .destNet(v === 4 ? "127.0.0.0/8" : "::1/128", true)
      .destAddrTypeLocal()
      .build();
    return [rule(m, lookup, "kubernetes service nodeports")];
  }
  return nodePortIPs
    .filter((ip) => !(v === 4 ? ip.startsWith("127.") : ip === "::1"))
    .map((ip) =>
      rule(
        match()
          .destNet(v === 4 ? `${ip}/32` : `${ip}/128`)
          .build(),
        lookup,
        "kubernetes service nodeports",
      ),
    );
}

/** A chain the iptables proxy layout shares, as kube-proxy's nftables layout renders it: without counters. */
const uncounted = (c: Chain): Chain => ({ ...c, rules: c.rules.map((r) => ({ ...r, uncounted: true })) });
const jump = (chain: string, comment?: string) => rule(NO_MATCH, Actions.jump(chain), comment);
const jumpNew = (chain: string) => rule(match().ctState("NEW").build(), Actions.jump(chain));

/** `tables` (rules/static.ts's) plus the nftables proxy mode's fixed chains and hooks. */
export function withNftServiceTables(
  tables: Record<TableName, StaticTable>,
  v: IpVersion,
  MARK_MASQ: number = DEFAULT_MARK_MASQ,
  randomFully = true,
  kubeProxy: KubeProxyOptions = DEFAULT_KUBE_PROXY_OPTIONS,
  /** Nat tables the dataplane spreads the services over (model/nat-shards.ts). */
  natShards = 1,
): Record<TableName, StaticTable> {
  // Before any node address is known; the services renderer rewrites these chains.
  const ips = kubeProxy.nodePortAddresses.kind === "all" ? undefined : [];
  const dispatch = nftServiceDispatchChains(v, [], ips);
  // Sharded: shard 0's dispatch, its node ports in a later hook; the others come with their services.
  const shard0 = natShards > 1 ? nftShardNatDispatch(v, 0, ips) : undefined;
  const natChains: Chain[] = tables.nat.chains.map((c) =>
    c.name === "cali-POSTROUTING" ? { name: c.name, rules: [jump(NFT_MASQUERADING_CHAIN), ...c.rules] } : c,
  );
  natChains.push(
    ...(shard0?.chains ?? dispatch.nat),
    ...masqueradeChains(NFT_MARK_MASQ_CHAIN, NFT_MASQUERADING_CHAIN, MARK_MASQ, randomFully, natShards > 1).map(
      uncounted,
    ),
  );
  const natHooks: Hooks = { ...tables.nat.hooks, ...shard0?.hooks };
  for (const b of ["PREROUTING", "OUTPUT"]) {
    const h = natHooks[b] ?? { insert: [], append: [] };
    natHooks[b] = { insert: [jump(NFT_SERVICES_CHAIN, "kubernetes service portals"), ...h.insert], append: h.append };
  }

  const mangleHooks: Hooks = { ...tables.mangle.hooks };
  for (const b of ["PREROUTING", "OUTPUT"]) {
    const h = mangleHooks[b] ?? { insert: [], append: [] };
    mangleHooks[b] = { insert: [jumpNew(NFT_FIREWALL_CHECK_CHAIN), ...h.insert], append: h.append };
  }
  const firewallCheck: Chain = {
    name: NFT_FIREWALL_CHECK_CHAIN,
    rules: [rule(NO_MATCH, Actions.vmap("daddr.proto.dport", FIREWALL_IPS_MAP))],
  };

  const filterHooks: Hooks = { ...tables.filter.hooks };
  const after = (b: string, rules: Rule[]) => afterFirstHook(filterHooks, b, rules);
  after("INPUT", [
    jump(NFT_HEALTH_CHECK_CHAIN, "kubernetes health check service ports"),
    jumpNew(NFT_SERVICE_ENDPOINTS_CHECK_CHAIN),
    jumpNew(NFT_NODEPORT_ENDPOINTS_CHECK_CHAIN),
  ]);
  after("FORWARD", [
    jumpNew(NFT_SERVICE_ENDPOINTS_CHECK_CHAIN),
    jumpNew(NFT_CLUSTER_IPS_CHECK_CHAIN),
    jump(PROXY_FORWARD_CHAIN),
  ]);
  after("OUTPUT", [jumpNew(NFT_SERVICE_ENDPOINTS_CHECK_CHAIN), jumpNew(NFT_CLUSTER_IPS_CHECK_CHAIN)]);
  const clusterIPsCheck: Chain = {
    name: NFT_CLUSTER_IPS_CHECK_CHAIN,
    rules: [
      rule(
        match().ipSet(CLUSTER_IPS_SET, "dst").build(),
        Actions.reject(v),
        "Reject traffic to invalid ports of ClusterIPs",
      ),
    ],
  };
  return {
    ...tables,
    mangle: { chains: [...tables.mangle.chains, firewallCheck], hooks: mangleHooks },
    nat: { chains: natChains, hooks: natHooks },
    filter: {
      chains: [
        ...tables.filter.chains,
        ...dispatch.filter,
        { name: NFT_REJECT_CHAIN, rules: [rule(NO_MATCH, Actions.reject(v))] },
        clusterIPsCheck,
        uncounted(proxyForwardChain(MARK_MASQ, kubeProxy)),
      ],
      hooks: filterHooks,
    },
  };
}
