// What IPVS needs besides its table, pure: the IP sets naming service
// frontends and the few nat/filter rules that masquerade and filter by them
// (kube-proxy's IPVS mode keeps its iptables part O(1) in services the same
// way: rules match sets, sets hold the services).
//
// IP sets (cali40… / cali60…, kube-proxy's analogue in brackets):
//   ipvs-cluster-ip       hash:ip,port      clusterIP,proto:port        [KUBE-CLUSTER-IP]
//   ipvs-external         hash:ip,port      externalIP/LB IP,proto:port, externalTrafficPolicy Cluster
//                                                                       [KUBE-EXTERNAL-IP, KUBE-LOAD-BALANCER]
//   ipvs-external-local   hash:ip,port      the same, externalTrafficPolicy Local [KUBE-EXTERNAL-IP-LOCAL, KUBE-LOAD-BALANCER-LOCAL]
//   ipvs-ips              hash:net          every address bound on cali-ipvs0 [KUBE-IPVS-IPS]
//   ipvs-node-port        hash:ip,port      nodeIP,proto:nodePort, policy Cluster [KUBE-NODE-PORT-*]
//   ipvs-lb-fw            hash:ip,port      LB IP,proto:port with loadBalancerSourceRanges [KUBE-LOAD-BALANCER-FW]
//   ipvs-lb-src           hash:ip,port,net  LB IP,proto:port,allowed CIDR [KUBE-LOAD-BALANCER-SOURCE-CIDR];
//                                           also LB IP,proto:port,LB IP when a range holds this node's
//                                           address: the node reaches its own bound LB IP from that IP
//                                           [KUBE-LOAD-BALANCER-SOURCE-IP]
//   ipvs-loop-back        hash:ip,port,ip   endpoint,proto:port,endpoint (hairpin) [KUBE-LOOP-BACK]
//   ipvs-pod-cidr         hash:net          the cluster's pod CIDRs
// (externalTrafficPolicy Local frontends are in no masquerade set: their
// client source IP must survive.)
//
// Chains (an IPVS- infix so they never meet the iptables proxy's cali-SVC-… ones):
//   nat    PREROUTING, OUTPUT → cali-IPVS-SERVICES: mark for masquerade
//            - cluster IPs from outside the pod CIDRs (no rule when the pod CIDRs are unknown,
//              as kube-proxy without --cluster-cidr)
//            - external IPs, LB IPs, NodePorts under externalTrafficPolicy Cluster
//          cali-IPVS-MARK-MASQ: set MARK_IPVS_MASQ
//          POSTROUTING → cali-IPVS-POSTROUTING: masquerade hairpin traffic and marked
//            traffic, clearing the mark first (no second masquerade on re-traversal)
//   filter INPUT → cali-IPVS-FIREWALL: drop traffic to an LB IP:port with source
//            ranges from outside them (filter INPUT runs before IPVS's LOCAL_IN hook)
//          INPUT → cali-IPVS-FILTER (kube-proxy's KUBE-IPVS-FILTER): a new connection to
//            an address bound on cali-ipvs0 is rejected unless it is for a service's
//            address:port (or a health check node port): the bound addresses are local,
//            and would otherwise reach every host port (kubernetes#72236)

import ipaddr from "ipaddr.js";
import type { IpSetState } from "../../model/ipset.js";
import { Actions, type Chain, match, NO_MATCH, type Rule, rule } from "../../model/rule.js";
import { parseCidr } from "../conversion/cidr.js";
import { hashNetMembers } from "../ipsets/hash-net.js";
import { ipSetName } from "../ipsets/ids.js";
import type { IpVersion } from "../model.js";
import { MARK_ALL } from "../rules/marks.js";
import type { ServicePort } from "./model.js";

/**
 * The IPVS proxy's masquerade mark: a bit of Felix's 0xffff0000 mask that
 * rules/marks.ts does not use (it has 0x10000…0x100000); 0x200000 is left to
 * the iptables proxy mode.
 */
export const MARK_IPVS_MASQ = 0x400000;
if ((MARK_IPVS_MASQ & MARK_ALL) !== 0) throw new Error("MARK_IPVS_MASQ overlaps Felix's marks");

export const IPVS_CHAINS = {
  services: "cali-IPVS-SERVICES",
  markMasq: "cali-IPVS-MARK-MASQ",
  postrouting: "cali-IPVS-POSTROUTING",
  firewall: "cali-IPVS-FIREWALL",
  filter: "cali-IPVS-FILTER",
} as const;

export const IPVS_SET_IDS = {
  clusterIP: "ipvs-cluster-ip",
  external: "ipvs-external",
  externalLocal: "ipvs-external-local",
  ipvsIPs: "ipvs-ips",
  nodePort: "ipvs-node-port",
  lbFirewall: "ipvs-lb-fw",
  lbSource: "ipvs-lb-src",
  loopBack: "ipvs-loop-back",
  podCidr: "ipvs-pod-cidr",
} as const;

/** Sysctls the IPVS mode needs (kube-proxy sets the same): conntrack for NAT'd IPVS traffic,
 * drop connections to removed real servers, expire persistence to quiescent (weight 0) ones. */
export const IPVS_SYSCTLS: Readonly<Record<string, string>> = {
  "net/ipv4/vs/conntrack": "1",
  "net/ipv4/vs/expire_nodest_conn": "1",
  "net/ipv4/vs/expire_quiescent_template": "1",
};

export interface IpvsRuleOptions {
  /** The cluster's pod CIDRs (IP pools, else the nodes' podCIDRs): cluster-IP traffic from elsewhere is masqueraded. */
  readonly podCidrs: readonly string[];
  /** The masquerade mark (from iptablesMarkMask); default MARK_IPVS_MASQ. */
  readonly masqMark?: number;
  /** kube-proxy's --masquerade-all: every packet to a cluster IP is masqueraded. */
  readonly masqueradeAll?: boolean;
  /** Health check node ports (TCP): open on the bound addresses too, as kube-proxy's set. */
  readonly healthCheckNodePorts?: readonly number[];
}

/** The members of the bound-addresses set, `[set name, member]`. */
export function boundAddressMembers(bound: readonly string[]): [string, string][] {
  return bound.map((ip): [string, string] => [setName(IPVS_SET_IDS.ipvsIPs, ip.includes(":") ? 6 : 4), ip]);
}

const setName = (id: string, v: IpVersion) => ipSetName(id, v);

const SET_TYPES: Readonly<Record<string, IpSetState["type"]>> = {
  [IPVS_SET_IDS.clusterIP]: "hash:ip,port",
  [IPVS_SET_IDS.external]: "hash:ip,port",
  [IPVS_SET_IDS.externalLocal]: "hash:ip,port",
  [IPVS_SET_IDS.ipvsIPs]: "hash:net",
  [IPVS_SET_IDS.nodePort]: "hash:ip,port",
  [IPVS_SET_IDS.lbFirewall]: "hash:ip,port",
  [IPVS_SET_IDS.lbSource]: "hash:ip,port,net",
  [IPVS_SET_IDS.loopBack]: "hash:ip,port,ip",
  [IPVS_SET_IDS.podCidr]: "hash:net",
};

/** Every IPVS IP set name, both families: they always exist (possibly empty), the rules reference them. */
export const IPVS_SET_NAMES: readonly string[] = ([4, 6] as const).flatMap((v) =>
  Object.keys(SET_TYPES).map((id) => setName(id, v)),
);

/** An IPVS set's state, by its name (cali40…/cali60…). */
export function ipvsSet(name: string, members: Set<string>): IpSetState {
  const v: IpVersion = name.startsWith("cali6") ? 6 : 4;
  return { name, family: v, type: SET_TYPES[name.slice("cali40".length)], members };
}

/** The pod-CIDR set's members, `[set name, member]`. */
export function podCidrSetMembers(podCidrs: readonly string[]): [string, string][] {
  return podCidrs.flatMap((cidr) => {
    const c = parseCidr(cidr);
    return hashNetMembers([c.text]).map((m): [string, string] => [setName(IPVS_SET_IDS.podCidr, c.version), m]);
  });
}

/** The IPVS IP sets of both families (always all of them, possibly empty: the rules reference them). */
export function ipvsIpSets(
  servicePorts: readonly ServicePort[],
  nodeAddresses: readonly string[],
  o: IpvsRuleOptions & { readonly boundAddresses?: readonly string[]; readonly nodeIPs?: readonly string[] },
): IpSetState[] {
  const m = new Map<string, Set<string>>(IPVS_SET_NAMES.map((n) => [n, new Set()]));
  for (const [name, member] of podCidrSetMembers(o.podCidrs)) m.get(name)!.add(member);
  for (const [name, member] of boundAddressMembers(o.boundAddresses ?? [])) m.get(name)!.add(member);
  for (const sp of servicePorts) {
    for (const [name, member] of servicePortSetMembers(sp, nodeAddresses, o.nodeIPs)) m.get(name)!.add(member);
  }
  return [...m].map(([name, members]) => ipvsSet(name, members));
}

/** One service port's members of the IPVS IP sets, `[set name, member]`. */
export function servicePortSetMembers(
  sp: ServicePort,
  nodeAddresses: readonly string[],
  /** This node's own IPs (InternalIPs): a source range holding one lets the node reach the LB IP. */
  nodeIPs: readonly string[] = nodeAddresses,
): [string, string][] {
  const out: [string, string][] = [];
  const add = (id: string, v: IpVersion, member: string) => out.push([setName(id, v), member]);
  const v = sp.family;
  const p = sp.protocol;
  if (sp.clusterIP && sp.clusterIP !== "None") add(IPVS_SET_IDS.clusterIP, v, `${sp.clusterIP},${p}:${sp.port}`);
  const externalSet = sp.externalPolicyLocal ? IPVS_SET_IDS.externalLocal : IPVS_SET_IDS.external;
  for (const ip of [...sp.externalIPs, ...sp.loadBalancerIPs]) add(externalSet, v, `${ip},${p}:${sp.port}`);
  if (!sp.externalPolicyLocal) {
    if (sp.nodePort) {
      for (const ip of nodeAddresses) {
        if (ip.includes(":") === (v === 6)) add(IPVS_SET_IDS.nodePort, v, `${ip},${p}:${sp.nodePort}`);
      }
    }
  }
  if (sp.loadBalancerSourceRanges.length > 0) {
    for (const ip of sp.loadBalancerIPs) {
      add(IPVS_SET_IDS.lbFirewall, v, `${ip},${p}:${sp.port}`);
      for (const cidr of sp.loadBalancerSourceRanges) {
        if (cidr.includes(":") !== (v === 6)) continue;
        for (const net of hashNetMembers([cidr])) add(IPVS_SET_IDS.lbSource, v, `${ip},${p}:${sp.port},${net}`);
      }
      // The LB IP is bound here: the node's own connections to it come from it.
      const fromNode = nodeIPs.some((n) =>
        sp.loadBalancerSourceRanges.some((c) => c.includes(":") === n.includes(":") && cidrHolds(c, n)),
      );
      if (fromNode) add(IPVS_SET_IDS.lbSource, v, `${ip},${p}:${sp.port},${ip}`);
    }
  }
  for (const e of sp.endpoints) add(IPVS_SET_IDS.loopBack, v, `${e.ip},${p}:${e.port},${e.ip}`);
  return out;
}

export interface IpvsTableRules {
  readonly nat: { readonly chains: readonly Chain[]; readonly hooks: Readonly<Record<string, readonly Rule[]>> };
  readonly filter: { readonly chains: readonly Chain[]; readonly hooks: Readonly<Record<string, readonly Rule[]>> };
}

/** The IPVS chains of one family, and the rules that hook them (inserted at the top of the built-in chains). */
export function ipvsTableRules(v: IpVersion, o: IpvsRuleOptions): IpvsTableRules {
  const s = (id: string) => setName(id, v);
  const toMasq = Actions.jump(IPVS_CHAINS.markMasq);
  const services: Rule[] = [];
  const hasPodCidrs = o.podCidrs.some((c) => c.includes(":") === (v === 6));
  if (o.masqueradeAll) {
    services.push(
      rule(
        match().ipSet(s(IPVS_SET_IDS.clusterIP), "dst,dst").build(),
        toMasq,
        "Masquerade all traffic to cluster IPs",
      ),
    );
  } else if (hasPodCidrs) {
    services.push(
      rule(
        match().ipSet(s(IPVS_SET_IDS.clusterIP), "dst,dst").ipSet(s(IPVS_SET_IDS.podCidr), "src", true).build(),
        toMasq,
        "Masquerade off-cluster traffic to cluster IPs",
      ),
    );
  }
  services.push(
    rule(
      match().ipSet(s(IPVS_SET_IDS.external), "dst,dst").build(),
      toMasq,
      "Masquerade traffic to external and load-balancer IPs",
    ),
    rule(match().ipSet(s(IPVS_SET_IDS.nodePort), "dst,dst").build(), toMasq, "Masquerade traffic to node ports"),
  );
  const mask = o.masqMark ?? MARK_IPVS_MASQ;
  const jump = (chain: string, comment?: string) => rule(NO_MATCH, Actions.jump(chain), comment);
  const frontends = [IPVS_SET_IDS.external, IPVS_SET_IDS.clusterIP, IPVS_SET_IDS.externalLocal].map((id) =>
    rule(match().ipSet(s(id), "dst,dst").build(), Actions.return),
  );
  const hcPorts = [...new Set(o.healthCheckNodePorts ?? [])].sort((a, b) => a - b);
  const healthChecks: Rule[] = [];
  for (let i = 0; i < hcPorts.length; i += 15) {
    const ports = hcPorts.slice(i, i + 15).join(",");
    healthChecks.push(rule(match().protocol("tcp").destPorts(ports).build(), Actions.return));
  }
  return {
    nat: {
      chains: [
        { name: IPVS_CHAINS.services, rules: services },
        { name: IPVS_CHAINS.markMasq, rules: [rule(NO_MATCH, Actions.setMark(mask))] },
        {
          name: IPVS_CHAINS.postrouting,
          rules: [
            rule(
              match().ipSet(s(IPVS_SET_IDS.loopBack), "dst,dst,src").build(),
              Actions.masquerade(),
              "Hairpin: an endpoint reaching itself through a service",
            ),
            rule(match().mark(mask, mask, true).build(), Actions.return),
            rule(NO_MATCH, Actions.clearMark(mask)),
            rule(NO_MATCH, Actions.masquerade(), "IPVS service traffic requiring SNAT"),
          ],
        },
      ],
      hooks: {
        PREROUTING: [jump(IPVS_CHAINS.services)],
        OUTPUT: [jump(IPVS_CHAINS.services)],
        POSTROUTING: [jump(IPVS_CHAINS.postrouting)],
      },
    },
    filter: {
      chains: [
        {
          name: IPVS_CHAINS.firewall,
          rules: [
            rule(
              match()
                .ipSet(s(IPVS_SET_IDS.lbFirewall), "dst,dst")
                .ipSet(s(IPVS_SET_IDS.lbSource), "dst,dst,src", true)
                .build(),
              Actions.drop,
              "Load-balancer traffic from outside loadBalancerSourceRanges",
            ),
          ],
        },
        {
          name: IPVS_CHAINS.filter,
          rules: [
            ...frontends,
            ...healthChecks,
            rule(match().ctState("NEW").ipSet(s(IPVS_SET_IDS.ipvsIPs), "dst").build(), Actions.reject(v)),
          ],
        },
      ],
      hooks: { INPUT: [jump(IPVS_CHAINS.firewall), jump(IPVS_CHAINS.filter, "kubernetes ipvs access filter")] },
    },
  };
}

function cidrHolds(cidr: string, ip: string): boolean {
  try {
    const [net, len] = ipaddr.parseCIDR(cidr);
    const a = ipaddr.parse(ip);
    return a.kind() === net.kind() && a.match(net, len);
  } catch {
    return false;
  }
}
