// iptables proxy mode: the rules of one service port, in kube-proxy's layout
// (pkg/proxy/iptables/proxier.go) with cali- names:
//
//   nat    cali-SERVICES ─ clusterIP:port ─► cali-SVC-h (or cali-SVL-h, iTP Local)
//                        ─ externalIP:port ─► cali-EXT-h
//                        ─ LB IP:port ──────► cali-FW-h (source ranges) ─► cali-EXT-h
//                        ─ dst LOCAL ───────► cali-NODEPORTS ─ nodePort ─► cali-EXT-h
//          cali-EXT-h  masquerade (eTP Cluster) or short-circuit pods and the
//                      host (eTP Local), then ─► cali-SVC-h / cali-SVL-h
//          cali-SVC-h  masquerade off-cluster sources, affinity (recent --rcheck),
//                      probabilistic jumps ─► cali-SEP-e
//          cali-SEP-e  hairpin masquerade, (recent --set), DNAT
//   filter cali-SERVICES / cali-EXTERNAL-SERVICES: REJECT (no endpoints) or DROP
//          (no local endpoints under a Local policy); cali-PROXY-FIREWALL: DROP
//          LB traffic the FW chain did not accept; cali-NODEPORTS: ACCEPT the
//          health-check node port.
//
// Masquerade is by mark (MARK_MASQ, via cali-MARK-MASQ; cali-MASQUERADE in nat
// POSTROUTING acts on it) and only where kube-proxy does it, so a pod talking
// to a ClusterIP keeps its source IP and policy at the destination sees it.
// "Off-cluster" is "not in the cluster's pod CIDRs", one hash:net IP set per
// family (a rule cannot negate several CIDRs); while no pod CIDR is known
// these rules are left out (kube-proxy's no-op local detector).

import ipaddr from "ipaddr.js";
import {
  type Action,
  Actions,
  type Chain,
  type Match,
  match,
  NO_MATCH,
  type Rule,
  rule,
  uncountedRule,
} from "../../model/rule.js";
import type { IpVersion } from "../model.js";
import { portTrafficPlan } from "../services/categorize.js";
import type { ServiceEndpoint, ServicePort } from "../services/model.js";
import {
  endpointString,
  MARK_MASQ_CHAIN,
  PROXY_FIREWALL_CHAIN,
  podCidrSetName,
  sepChainName,
  serviceChainNames,
  servicePortName,
} from "../services/names.js";

export interface ServiceRenderContext {
  readonly family: IpVersion;
  /** Some pod CIDR of this family is known (the pod-CIDR IP set exists). */
  readonly podCidrsKnown: boolean;
  /** This node's primary IPs: a source range holding one also admits the LB IPs as sources (kube-proxy's nodeIP). */
  readonly nodeIPs?: readonly string[];
  /** kube-proxy's --masquerade-all: every packet to the cluster IP is masqueraded. */
  readonly masqueradeAll?: boolean;
  /**
   * kube-proxy's large cluster mode (more than LARGE_CLUSTER_ENDPOINTS endpoints in the family):
   * the per-endpoint rules (SVC/SVL → SEP, and the SEP chains) carry no comment. At 50,000
   * endpoints that is a quarter of the nat table's restore text, and one 256-byte comment
   * match per rule less in the kernel's table. Those chains (SVC, SVL, SEP) then also carry one
   * rule id each (Chain.oneId) instead of one per rule: at `large` the nat table's kernel blob
   * and restore text shrink by another ~30% (a cold nat restore 3.0 → 2.0 s, a service endpoint
   * change 1.3 → 0.75 s with iptables-legacy).
   */
  readonly largeCluster?: boolean;
}

/**
 * A rule of the nat side (cali-SERVICES, cali-NODEPORTS, the SVC/SVL/EXT/FW/SEP chains). In the
 * nftables dataplane it carries no `counter`, as kube-proxy's nftables rules carry none: at `large`
 * ~170k counters, each a per-CPU allocation in the kernel (16 bytes per CPU per rule) and ~25% of
 * the nat tables' load in system time. iptables counts every rule anyway (Rule.uncounted is
 * nft's). The filter side keeps Felix's counters.
 */
const natRule = uncountedRule;

/** kube-proxy's largeClusterEndpointsThreshold: above it, per-endpoint rules lose their comments. */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

/** One service port's chains, and its rules in the shared dispatch chains. */
export interface ServicePortRules {
  readonly natChains: readonly Chain[];
  readonly natServices: readonly Rule[];
  readonly natNodePorts: readonly Rule[];
  readonly filterServices: readonly Rule[];
  readonly filterExternal: readonly Rule[];
  readonly filterNodePorts: readonly Rule[];
  readonly filterFirewall: readonly Rule[];
}

export function cidrContains(net: string, len: number, ip: string): boolean {
  try {
    return ipaddr.parse(ip).match(ipaddr.parse(net), len);
  } catch {
    return false;
  }
}

// `-m statistic --mode random --probability 1/n` for the small n every service uses, built once
// (matches are immutable): an SVC chain has one per endpoint but its last.
const ONE_OF: readonly Match[] = Array.from({ length: 65 }, (_, n) => match().randomOneOf(Math.max(n, 1)).build());
const oneOf = (n: number): Match =>
  Number.isInteger(n) && n >= 1 && n < ONE_OF.length ? ONE_OF[n] : match().randomOneOf(n).build();

export const hostCidr = (ip: string) => (ip.includes(":") ? `${ip}/128` : `${ip}/32`);

export function renderServicePort(sp: ServicePort, ctx: ServiceRenderContext): ServicePortRules {
  const v = ctx.family;
  const name = servicePortName(sp);
  const chains = serviceChainNames(sp);
  const podSet = podCidrSetName(v);
  const proto = sp.protocol;

  // kube-proxy's CategorizeEndpoints, per policy.
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
  const internalChain = sp.internalPolicyLocal ? chains.svl : chains.svc;
  const externalPolicyChain = sp.externalPolicyLocal ? chains.svl : chains.svc;
  const usesFwChain = hasEndpoints && sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  const lbChain = usesFwChain ? chains.fw : chains.ext;

  let internalVerdict: Action = Actions.none;
  let internalComment = "";
  let externalVerdict: Action = Actions.none;
  let externalComment = "";
  if (!hasEndpoints) {
    internalVerdict = externalVerdict = Actions.reject(v);
    internalComment = externalComment = `${name} has no endpoints`;
  } else {
    if (!hasInternal) {
      internalVerdict = Actions.drop;
      internalComment = `${name} has no local endpoints`;
    }
    if (!hasExternal) {
      externalVerdict = Actions.drop;
      externalComment = `${name} has no local endpoints`;
    }
  }

  const toVip = (ip: string) => match().destNet(hostCidr(ip)).protocol(proto).destPort(proto, sp.port).build();

  const natServices: Rule[] = [];
  const natNodePorts: Rule[] = [];
  const filterServices: Rule[] = [];
  const filterExternal: Rule[] = [];
  const filterNodePorts: Rule[] = [];
  const filterFirewall: Rule[] = [];
  const nat = new Map<string, Rule[]>();
  const chain = (n: string) => {
    const rs = nat.get(n) ?? [];
    nat.set(n, rs);
    return rs;
  };

  if (hasInternal) natServices.push(natRule(toVip(sp.clusterIP), Actions.jump(internalChain), `${name} cluster IP`));
  else filterServices.push(rule(toVip(sp.clusterIP), internalVerdict, internalComment));

  for (const ip of sp.externalIPs) {
    if (hasEndpoints) natServices.push(natRule(toVip(ip), Actions.jump(chains.ext), `${name} external IP`));
    if (!hasExternal) filterExternal.push(rule(toVip(ip), externalVerdict, externalComment));
  }
  for (const ip of sp.loadBalancerIPs) {
    if (hasEndpoints) natServices.push(natRule(toVip(ip), Actions.jump(lbChain), `${name} loadbalancer IP`));
    if (usesFwChain) {
      filterFirewall.push(rule(toVip(ip), Actions.drop, `${name} traffic not accepted by ${chains.fw}`));
    }
  }
  if (!hasExternal) {
    for (const ip of sp.loadBalancerIPs) filterExternal.push(rule(toVip(ip), externalVerdict, externalComment));
  }
  if (sp.nodePort !== undefined) {
    const m = match().protocol(proto).destPort(proto, sp.nodePort).build();
    if (hasEndpoints) natNodePorts.push(natRule(m, Actions.jump(chains.ext), name));
    if (!hasExternal) {
      const local = match().protocol(proto).destAddrTypeLocal().destPort(proto, sp.nodePort).build();
      filterExternal.push(rule(local, externalVerdict, externalComment));
    }
  }
  if (sp.healthCheckNodePort !== undefined) {
    const m = match().protocol("tcp").destPort("tcp", sp.healthCheckNodePort).build();
    filterNodePorts.push(rule(m, Actions.accept, `${name} health check node port`));
  }

  // Internal traffic: masquerade what comes from outside the cluster's pods (everything with --masquerade-all).
  if (hasInternal && (ctx.podCidrsKnown || ctx.masqueradeAll)) {
    const m = match().destNet(hostCidr(sp.clusterIP)).protocol(proto);
    if (!ctx.masqueradeAll) m.ipSet(podSet, "src", true);
    chain(internalChain).push(
      natRule(m.destPort(proto, sp.port).build(), Actions.jump(MARK_MASQ_CHAIN), `${name} cluster IP`),
    );
  }

  if (usesExtChain) {
    const ext = chain(chains.ext);
    if (!sp.externalPolicyLocal) {
      // Endpoints may be on other nodes: masquerade so replies come back here.
      ext.push(
        natRule(NO_MATCH, Actions.jump(MARK_MASQ_CHAIN), `masquerade traffic for ${name} external destinations`),
      );
    } else {
      if (ctx.podCidrsKnown) {
        // Pods reaching an external address are treated as if they had gone
        // out to the load balancer and come back: any endpoint, source kept.
        const fromPods = match().ipSet(podSet, "src").build();
        ext.push(natRule(fromPods, Actions.jump(chains.svc), `pod traffic for ${name} external destinations`));
      }
      const fromHost = match().srcAddrTypeLocal().build();
      ext.push(
        natRule(fromHost, Actions.jump(MARK_MASQ_CHAIN), `masquerade LOCAL traffic for ${name} external destinations`),
      );
      ext.push(natRule(fromHost, Actions.jump(chains.svc), `route LOCAL traffic for ${name} external destinations`));
    }
    if (hasExternal) ext.push(natRule(NO_MATCH, Actions.jump(externalPolicyChain)));
  }

  if (usesFwChain) {
    const fw = chain(chains.fw);
    for (const cidr of sp.loadBalancerSourceRanges) {
      fw.push(natRule(match().sourceNet(cidr).build(), Actions.jump(chains.ext), `${name} loadbalancer IP`));
    }
    // A VIP-style LB IP bound on this node loops this node's own requests back
    // with the LB IP as source: admit it when the ranges admit this node.
    const [net, len] = [(c: string) => c.split("/")[0], (c: string) => Number(c.split("/")[1])];
    const admitsNode = (ctx.nodeIPs ?? []).some((ip) =>
      sp.loadBalancerSourceRanges.some((c) => ip.includes(":") === c.includes(":") && cidrContains(net(c), len(c), ip)),
    );
    if (admitsNode) {
      for (const ip of sp.loadBalancerIPs) {
        fw.push(natRule(match().sourceNet(hostCidr(ip)).build(), Actions.jump(chains.ext), `${name} loadbalancer IP`));
      }
    }
    // Whatever is left was not DNATed: cali-PROXY-FIREWALL drops it in filter.
    fw.push(natRule(NO_MATCH, Actions.none, `other traffic to ${name} will be dropped by ${PROXY_FIREWALL_CHAIN}`));
  }

  // Each endpoint's SEP chain name and `ip:port`, computed once: the SVC and
  // SVL chains and the SEP chain itself all need them.
  const portKey = name + proto;
  const reachable = new Map<ServiceEndpoint, { sep: string; addr: string }>();
  const sepOf = (ep: ServiceEndpoint) => {
    let r = reachable.get(ep);
    if (!r) {
      const addr = endpointString(ep);
      r = { sep: sepChainName(portKey, addr), addr };
      reachable.set(ep, r);
    }
    return r;
  };
  const epComment = (text: string) => (ctx.largeCluster ? undefined : text);
  // The chains of per-endpoint rules (SVC, SVL, SEP): one rule id each in the large cluster mode.
  const perEndpoint = new Set<string>();
  const toEndpoints = (chainName: string, eps: readonly ServiceEndpoint[]) => {
    perEndpoint.add(chainName);
    const rs = chain(chainName);
    if (sp.affinityTimeoutSeconds !== undefined) {
      for (const ep of eps) {
        const { sep, addr } = sepOf(ep);
        const m = match().recentCheck(sep, sp.affinityTimeoutSeconds!, v).build();
        rs.push(natRule(m, Actions.jump(sep), epComment(`${name} -> ${addr}`)));
      }
    }
    eps.forEach((ep, i) => {
      const { sep, addr } = sepOf(ep);
      const m = i < eps.length - 1 ? oneOf(eps.length - i) : NO_MATCH;
      rs.push(natRule(m, Actions.jump(sep), epComment(`${name} -> ${addr}`)));
    });
  };
  if (usesClusterChain) toEndpoints(chains.svc, clusterEps);
  if (usesLocalChain) toEndpoints(chains.svl, localEps);

  const protoMatch: Match = match().protocol(proto).build();
  for (const [ep, { sep }] of reachable) {
    perEndpoint.add(sep);
    const rs = chain(sep);
    // Hairpin: an endpoint reaching itself through the service must see the
    // reply come from the node, not from itself.
    rs.push(natRule(match().sourceNet(hostCidr(ep.ip)).build(), Actions.jump(MARK_MASQ_CHAIN), epComment(name)));
    const dnat =
      sp.affinityTimeoutSeconds === undefined ? protoMatch : match().protocol(proto).recentSet(sep, v).build();
    rs.push(natRule(dnat, Actions.dnat(ep.ip, ep.port), epComment(name)));
  }

  return {
    natChains: [...nat]
      .map(([n, rules]) =>
        ctx.largeCluster && perEndpoint.has(n) ? { name: n, rules, oneId: true } : { name: n, rules },
      )
      .sort((a, b) => (a.name < b.name ? -1 : 1)),
    natServices,
    natNodePorts,
    filterServices,
    filterExternal,
    filterNodePorts,
    filterFirewall,
  };
}
