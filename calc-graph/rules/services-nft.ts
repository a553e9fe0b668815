// nftables proxy mode (FELIX_PROXYMODE=nftables): one service port in
// kube-proxy's nftables layout (pkg/proxy/nftables/proxier.go), with the same
// decisions as the iptables proxy mode (services.ts: CategorizeEndpoints,
// traffic policies, masquerade only where kube-proxy does it):
//
//   maps     service-ips        clusterIP . proto . port ─► goto service-h (local-h, iTP Local)
//                               externalIP / LB IP       ─► goto external-h
//            service-nodeports  proto . nodePort         ─► goto external-h
//            no-endpoint-services / -nodeports           ─► goto reject-chain (no endpoints)
//                                                           or drop (no local endpoints, Local policy)
//            firewall-ips       LB IP . proto . port     ─► goto firewall-h (loadBalancerSourceRanges)
//   nat      external-h   masquerade (eTP Cluster) or short-circuit pods and the host (eTP Local)
//            service-h / local-h   masquerade off-cluster sources to the cluster IP, affinity
//                         (`ip saddr @affinity-e goto endpoint-e`), then
//                         `numgen random mod N vmap { i : goto endpoint-e }`
//            endpoint-e   hairpin masquerade, `update @affinity-e { ip saddr }`, DNAT
//   mangle   firewall-h   sources in the ranges return, the rest is dropped (before DNAT)
//
// An endpoint change rewrites this port's own chains and a few map elements;
// the dispatch chains never change.

import type { AffinitySetState, MapVerdict } from "../../model/nft-objects.js";
// kube-proxy renders its nft rules without counters: every rule here is built uncounted.
import { Actions, type Chain, match, NO_MATCH, type Rule, uncountedRule as rule } from "../../model/rule.js";
import { portTrafficPlan } from "../services/categorize.js";
import type { ServiceEndpoint, ServicePort } from "../services/model.js";
import { podCidrSetName, servicePortName } from "../services/names.js";
import {
  checkServicePortNames,
  FIREWALL_IPS_MAP,
  NFT_MARK_MASQ_CHAIN,
  NFT_REJECT_CHAIN,
  NO_ENDPOINT_NODEPORTS_MAP,
  NO_ENDPOINT_SERVICES_MAP,
  nftEndpointNames,
  nftServiceChainNames,
  SERVICE_IPS_MAP,
  SERVICE_NODEPORTS_MAP,
} from "../services/nft-names.js";
import { cidrContains, hostCidr, type ServiceRenderContext } from "./services.js";

const inCidr = (cidr: string, ip: string) =>
  ip.includes(":") === cidr.includes(":") && cidrContains(cidr.split("/")[0], Number(cidr.split("/")[1]), ip);

/** A map element: the map, its key (ipset member syntax) and verdict. */
export interface NftMapElement {
  readonly map: string;
  readonly key: string;
  readonly verdict: MapVerdict;
}

export interface NftServicePortRules {
  readonly natChains: readonly Chain[];
  readonly mangleChains: readonly Chain[];
  readonly elements: readonly NftMapElement[];
  readonly affinitySets: readonly AffinitySetState[];
  /** Health-check node port accepts (filter, INPUT). */
  readonly filterHealthChecks: readonly Rule[];
}

const goto = (chain: string): MapVerdict => ({ kind: "goto", chain });
const DROP: MapVerdict = { kind: "drop" };
const REJECT: MapVerdict = goto(NFT_REJECT_CHAIN);

export function renderNftServicePort(sp: ServicePort, ctx: ServiceRenderContext): NftServicePortRules {
  checkServicePortNames(sp);
  const v = ctx.family;
  const name = servicePortName(sp);
  const chains = nftServiceChainNames(sp);
  const proto = sp.protocol;
  const {
    clusterEps,
    localEps,
    hasEndpoints,
    usesClusterChain,
    usesLocalChain,
    hasInternal,
    hasExternal,
    usesExtChain,
  } = portTrafficPlan(sp);
  const internalChain = sp.internalPolicyLocal ? chains.local : chains.service;
  const externalPolicyChain = sp.externalPolicyLocal ? chains.local : chains.service;
  // kube-proxy's nftables mode filters LB sources whether or not the service has endpoints.
  const usesFwChain = sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  const internalVerdict = hasEndpoints ? DROP : REJECT;
  const externalVerdict = hasEndpoints ? DROP : REJECT;

  const elements: NftMapElement[] = [];
  const el = (map: string, key: string, verdict: MapVerdict) => elements.push({ map, key, verdict });
  const vip = (ip: string) => `${ip},${proto}:${sp.port}`;
  if (hasInternal) el(SERVICE_IPS_MAP, vip(sp.clusterIP), goto(internalChain));
  else el(NO_ENDPOINT_SERVICES_MAP, vip(sp.clusterIP), internalVerdict);
  for (const ip of [...sp.externalIPs, ...sp.loadBalancerIPs]) {
    if (hasEndpoints) el(SERVICE_IPS_MAP, vip(ip), goto(chains.external));
    if (!hasExternal) el(NO_ENDPOINT_SERVICES_MAP, vip(ip), externalVerdict);
  }
  if (usesFwChain) for (const ip of sp.loadBalancerIPs) el(FIREWALL_IPS_MAP, vip(ip), goto(chains.firewall));
  if (sp.nodePort !== undefined) {
    const key = `${proto}:${sp.nodePort}`;
    if (hasEndpoints) el(SERVICE_NODEPORTS_MAP, key, goto(chains.external));
    if (!hasExternal) el(NO_ENDPOINT_NODEPORTS_MAP, key, externalVerdict);
  }
  const filterHealthChecks: Rule[] = [];
  if (sp.healthCheckNodePort !== undefined) {
    const m = match().protocol("tcp").destPort("tcp", sp.healthCheckNodePort).build();
    filterHealthChecks.push(rule(m, Actions.accept, `${name} health check node port`));
  }

  const nat = new Map<string, Rule[]>();
  const chain = (n: string) => {
    const rs = nat.get(n) ?? [];
    nat.set(n, rs);
    return rs;
  };
  const markMasq = Actions.jump(NFT_MARK_MASQ_CHAIN);
  if (hasInternal && (ctx.podCidrsKnown || ctx.masqueradeAll)) {
    const m = match().destNet(hostCidr(sp.clusterIP)).protocol(proto);
    if (!ctx.masqueradeAll) m.ipSet(podCidrSetName(v), "src", true);
    chain(internalChain).push(rule(m.destPort(proto, sp.port).build(), markMasq, `${name} cluster IP`));
  }
  if (usesExtChain) {
    const ext = chain(chains.external);
    if (!sp.externalPolicyLocal) {
      ext.push(rule(NO_MATCH, markMasq, `masquerade traffic for ${name} external destinations`));
    } else {
      if (ctx.podCidrsKnown) {
        // Pods reaching an external address: as if out to the load balancer and back (any endpoint, source kept).
        ext.push(
          rule(
            match().ipSet(podCidrSetName(v), "src").build(),
            Actions.goto(chains.service),
            "short-circuit pod traffic",
          ),
        );
      }
      const fromHost = match().srcAddrTypeLocal().build();
      ext.push(rule(fromHost, markMasq, "masquerade local traffic"));
      ext.push(rule(fromHost, Actions.goto(chains.service), "short-circuit local traffic"));
    }
    if (hasExternal) ext.push(rule(NO_MATCH, Actions.goto(externalPolicyChain)));
  }

  const mangleChains: Chain[] = [];
  if (usesFwChain) {
    const sources = [...sp.loadBalancerSourceRanges];
    // A VIP-style LB IP bound on this node loops this node's own requests back with the LB IP as source.
    if ((ctx.nodeIPs ?? []).some((ip) => sp.loadBalancerSourceRanges.some((c) => inCidr(c, ip)))) {
      sources.push(...sp.loadBalancerIPs.map(hostCidr));
    }
    const fw = sources.map((c) => rule(match().sourceNet(c).build(), Actions.return, `${name} loadbalancer IP`));
    fw.push(rule(NO_MATCH, Actions.drop, `other traffic to ${name} is dropped`));
    mangleChains.push({ name: chains.firewall, rules: fw });
  }

  const affinity = sp.affinityTimeoutSeconds;
  const reachable = new Map<ServiceEndpoint, { chain: string; affinitySet: string }>();
  const namesOf = (ep: ServiceEndpoint) => {
    let r = reachable.get(ep);
    if (!r) {
      r = nftEndpointNames(sp, ep);
      reachable.set(ep, r);
    }
    return r;
  };
  const toEndpoints = (chainName: string, eps: readonly ServiceEndpoint[]) => {
    const rs = chain(chainName);
    if (affinity !== undefined) {
      for (const ep of eps) {
        const n = namesOf(ep);
        rs.push(rule(match().ipSet(n.affinitySet, "src").build(), Actions.goto(n.chain), `${name} -> affinity`));
      }
    }
    rs.push(rule(NO_MATCH, Actions.randomGoto(eps.map((ep) => namesOf(ep).chain)), name));
  };
  if (usesClusterChain) toEndpoints(chains.service, clusterEps);
  if (usesLocalChain) toEndpoints(chains.local, localEps);

  const affinitySets: AffinitySetState[] = [];
  for (const [ep, n] of reachable) {
    const rs = chain(n.chain);
    // Hairpin: an endpoint reaching itself through the service sees the reply come from the node.
    rs.push(rule(match().sourceNet(hostCidr(ep.ip)).build(), markMasq, name));
    if (affinity !== undefined) {
      rs.push(rule(NO_MATCH, Actions.setUpdate(n.affinitySet), name));
      affinitySets.push({ kind: "affinitySet", name: n.affinitySet, family: v, timeoutSeconds: affinity });
    }
    rs.push(rule(match().protocol(proto).build(), Actions.dnat(ep.ip, ep.port), name));
  }

  return {
    natChains: [...nat].map(([n, rules]) => ({ name: n, rules })).sort((a, b) => (a.name < b.name ? -1 : 1)),
    mangleChains,
    elements,
    affinitySets,
    filterHealthChecks,
  };
}
