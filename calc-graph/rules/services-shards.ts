// The services' nat dispatch spread over the nat tables of the nftables
// dataplane (model/nat-shards.ts says why and how): per shard k, in both proxy
// layouts,
//
//   PREROUTING-k, OUTPUT-k (dstnat + k)        ─► its services chain: service IPs,
//                                                 external and LB IPs of its services
//   PREROUTING-NODEPORTS-k, OUTPUT-NODEPORTS-k ─► its node ports, to a node-port address
//     (dstnat + NAT_SHARDS + k: after every shard's service IPs)
//
// Shard 0 keeps the unsharded names, and its services stage is the built-in
// chain itself (Calico's own nat rules are there, the portals jump first).
// The filter dispatch (reject, firewall, health checks) is not sharded: it is
// in the policy table.

import { type NatDispatchHook, natShardName, natStageHook } from "../../model/nat-shards.js";
import type { VerdictMapState } from "../../model/nft-objects.js";
import { Actions, type Chain, NO_MATCH, type Rule, rule, uncountedRule } from "../../model/rule.js";
import type { IpVersion } from "../model.js";
import { NODEPORTS_CHAIN, SERVICES_CHAIN } from "../services/names.js";
import { NFT_SERVICES_CHAIN, SERVICE_IPS_MAP, SERVICE_NODEPORTS_MAP } from "../services/nft-names.js";
import type { ServicePortRules } from "./services.js";
import { emptyServiceMaps, nftNodePortLookups } from "./services-nft-static.js";
import { type Hooks, type NodePortDispatch, nodePortJumps } from "./services-static.js";

const BUILTINS: readonly NatDispatchHook[] = ["PREROUTING", "OUTPUT"];

/** A shard's dispatch: its chains (tagged with the shard) and its nat hooks. */
export interface ShardDispatch {
  readonly chains: Chain[];
  readonly hooks: Hooks;
}

/** The hooks of shard k: its services chain (k > 0: shard 0's is in the built-in hooks) and its node-port rules. */
function shardHooks(shard: number, services: Rule | undefined, nodePorts: readonly Rule[]): Hooks {
  const hooks: Hooks = {};
  for (const builtin of BUILTINS) {
    if (shard > 0 && services)
      hooks[natStageHook({ builtin, shard, nodePorts: false })] = { insert: [services], append: [] };
    hooks[natStageHook({ builtin, shard, nodePorts: true })] = { insert: nodePorts, append: [] };
  }
  return hooks;
}

/** The iptables proxy layout's nat dispatch of shard k, from its services' fragments (sorted by the caller). */
export function shardNatDispatch(
  v: IpVersion,
  shard: number,
  fragments: readonly ServicePortRules[],
  nodePorts: NodePortDispatch,
): ShardDispatch {
  const services: Rule[] = [];
  const ports: Rule[] = [];
  for (const f of fragments) {
    services.push(...f.natServices);
    ports.push(...f.natNodePorts);
  }
  const servicesChain = natShardName(SERVICES_CHAIN, shard);
  const nodePortsChain = natShardName(NODEPORTS_CHAIN, shard);
  const tag = (c: Chain): Chain => (shard === 0 ? c : { ...c, natShard: shard });
  return {
    chains: [tag({ name: servicesChain, rules: services }), tag({ name: nodePortsChain, rules: ports })],
    hooks: shardHooks(
      shard,
      rule(NO_MATCH, Actions.jump(servicesChain), "kubernetes service portals"),
      nodePortJumps(v, nodePorts, nodePortsChain),
    ),
  };
}

/** kube-proxy's nftables layout: shard k's services chain (its `service-ips` map) and node-port lookup. */
export function nftShardNatDispatch(
  v: IpVersion,
  shard: number,
  nodePortIPs: readonly string[] | undefined,
): ShardDispatch {
  const servicesChain = natShardName(NFT_SERVICES_CHAIN, shard);
  const lookup = uncountedRule(NO_MATCH, Actions.vmap("daddr.proto.dport", natShardName(SERVICE_IPS_MAP, shard)));
  const chain: Chain = { name: servicesChain, rules: [lookup] };
  return {
    chains: [shard === 0 ? chain : { ...chain, natShard: shard }],
    hooks: shardHooks(
      shard,
      uncountedRule(NO_MATCH, Actions.jump(servicesChain), "kubernetes service portals"),
      nftNodePortLookups(v, nodePortIPs, natShardName(SERVICE_NODEPORTS_MAP, shard)),
    ),
  };
}

/** The nat maps of shard k (`service-ips-k`, `service-nodeports-k`), empty. */
export function shardServiceMaps(v: IpVersion, shard: number): VerdictMapState[] {
  return emptyServiceMaps(v)
    .filter((m) => m.table === "nat")
    .map((m) => ({ ...m, name: natShardName(m.name, shard) }));
}
