// What the state builder puts for IPVS support (rules/endpoint-mark.ts): the
// endpoint-mark chains for the current set of local interfaces, and this
// host's addresses for cali-forward-check.

import type { Draft } from "immer";
import type { IpSetState } from "../../model/ipset.js";
import type { Action, Chain } from "../../model/rule.js";
import type { DesiredState } from "../desired-state.js";
import { peekIpSet, writeIpSet } from "../ipsets/draft-ipset.js";
import type { IpVersion, NodeInfo } from "../model.js";
import { deleteKey, peek } from "../plain.js";
import { sameMembers } from "../same.js";
import {
  endpointMarkDispatchChains,
  endpointMarks,
  FROM_ENDPOINT_MARK,
  SET_ENDPOINT_MARK,
  SET_MARK_PREFIX,
  setMarkChain,
} from "./endpoint-mark.js";
import { allocateMarks, type Marks } from "./marks.js";
import { thisHostSetName } from "./static.js";

export interface EndpointMarkChains {
  /** Every endpoint-mark chain there should be. */
  readonly put: Chain[];
  /** Whether a chain name is one of these kinds (a stale one is deleted). */
  isOwned(name: string): boolean;
}

/**
 * `ifaces`: every interface in dispatch, colliding ones included: a
 * collision's mark leads to its endpoint chain, which then drops (neither
 * pod's policy), so nothing is let through for either claimant.
 */
export function endpointMarkChains(
  ifaces: readonly string[],
  prefixes: readonly string[],
  marks: Marks,
  deny: Action,
): EndpointMarkChains {
  const ifaceMarks = endpointMarks(ifaces, marks);
  return {
    put: [
      ...endpointMarkDispatchChains(ifaceMarks, prefixes, marks, deny),
      ...[...ifaceMarks].map(([i, m]) => setMarkChain(i, m, marks)),
    ],
    isOwned: isEndpointMarkChain,
  };
}

/** Whether a chain is one of the per-interface endpoint-mark chains (a stale one is deleted). */
export function isEndpointMarkChain(name: string): boolean {
  return name.startsWith(SET_MARK_PREFIX) || name.startsWith(`${SET_ENDPOINT_MARK}-`) || name === FROM_ENDPOINT_MARK;
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

/** Puts this family's this-host set, unless its members did not change. */
export function putThisHostSet(
  d: Draft<DesiredState>,
  v: IpVersion,
  node: NodeInfo | undefined,
  kernelAddresses: readonly string[],
): void {
  const set = thisHostSet(thisHostSetName(v), v, node, kernelAddresses);
  const old = peekIpSet(d, set.name);
  if (!old || !sameMembers(old.members, set.members)) writeIpSet(d, set.name, set);
}

/**
 * IPVS support with no endpoint-mark bits left in iptablesMarkMask (Felix
 * refuses to start): cali-forward-check refuses IPVS-forwarded traffic
 * (fail closed) and this problem says why.
 */
export function endpointMarkProblem(d: Draft<DesiredState>, ipvsSupport: boolean, mask: number, node: string): void {
  const key = `Node//${node}/endpoint-marks`;
  if (ipvsSupport && allocateMarks(mask).endpoint === 0) {
    const message = `iptablesMarkMask 0x${mask.toString(16)} leaves no bits for IPVS endpoint marks: IPVS-forwarded traffic is dropped; give the mask more bits`;
    if (peek(d.problems, key)?.message !== message) d.problems[key] = { key, message, node };
  } else deleteKey(d.problems, key);
}
