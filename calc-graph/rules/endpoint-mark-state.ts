// What the state builder puts for IPVS support (rules/endpoint-mark.ts): the
// endpoint-mark chains for the current set of local interfaces, and this
// host's addresses for cali-forward-check.

import type { IpSetState } from "../../iptables/ipset.js";
import type { Chain } from "../../iptables/rule.js";
import type { IpVersion, NodeInfo } from "../model.js";
import {
  endpointMarkDispatchChains,
  endpointMarks,
  FROM_ENDPOINT_MARK,
  SET_ENDPOINT_MARK,
  SET_MARK_PREFIX,
  setMarkChain,
} from "./endpoint-mark.js";

export interface EndpointMarkChains {
  /** Every endpoint-mark chain there should be. */
  readonly put: Chain[];
  /** Whether a chain name is one of these kinds (a stale one is deleted). */
  isOwned(name: string): boolean;
}

export function endpointMarkChains(ifaces: readonly string[], prefix: string): EndpointMarkChains {
  const marks = endpointMarks(ifaces);
  return {
    put: [...endpointMarkDispatchChains(marks, prefix), ...[...marks].map(([i, m]) => setMarkChain(i, m))],
    isOwned: (name) =>
      name.startsWith(SET_MARK_PREFIX) || name.startsWith(`${SET_ENDPOINT_MARK}-`) || name === FROM_ENDPOINT_MARK,
  };
}

/**
 * this-host: the addresses the agent read from the kernel (Felix fills it
 * from the interfaces' addresses, all but workload interfaces and
 * kube-ipvs0), plus the local Node's addresses and tunnel addresses and
 * loopback, so that the set is right before the first read (and in felix-dump).
 */
export function thisHostSet(
  name: string,
  v: IpVersion,
  node: NodeInfo | undefined,
  kernelAddresses: readonly string[] = [],
): IpSetState {
  const ips = new Set<string>([v === 4 ? "127.0.0.1" : "::1"]);
  const candidates = [
    ...kernelAddresses,
    ...(node?.internalIPs ?? []),
    node?.ipv4Address?.split("/")[0],
    node?.vxlanTunnelAddr,
    node?.ipipTunnelAddr,
    node?.ipv6Address?.split("/")[0],
    node?.vxlanTunnelAddrV6,
  ];
  for (const ip of candidates) if (ip && ip.includes(":") === (v === 6)) ips.add(ip);
  return { name, family: v, type: "hash:net", members: new Set([...ips].sort()) };
}
