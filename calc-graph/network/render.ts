// Renders the networking part of a snapshot into an immer draft: the
// NetworkState (each record replaced only when its content changed, so
// unchanged parts keep their identity), the natOutgoing IP sets and the
// rules of cali-nat-outgoing, and the encapsulation rules in front of (or
// after) the static chains: cali-INPUT's guards, raw NOTRACK for VXLAN, the
// tunnel MASQUERADE in cali-POSTROUTING (network/tunnel-rules.ts).

import { castDraft, type Draft } from "immer";
import type { IpSetState } from "../../model/ipset.js";
import { type Action, Actions, type Chain } from "../../model/rule.js";
import type { DesiredState } from "../desired-state.js";
import { peekIpSet, writeIpSet } from "../ipsets/draft-ipset.js";
import { hashNetMembers } from "../ipsets/hash-net.js";
import type { IpVersion } from "../model.js";
import { peek } from "../plain.js";
import { NAT_OUTGOING_CHAIN } from "../rules/static.js";
import { sameMembers } from "../same.js";
import { IPIP_DEVICE, VXLAN_DEVICE, VXLAN_V6_DEVICE } from "./block-routes.js";
import {
  NAT_OUTGOING_ALL_SET,
  NAT_OUTGOING_MASQ_SET,
  type NatOutgoingOptions,
  natOutgoingRules,
  natOutgoingSetName,
} from "./nat-outgoing.js";
import type { NetworkIndex } from "./network-index.js";
import type { NetworkState } from "./state.js";
import { tunnelOutputRules, withTunnelOutput } from "./tunnel-output.js";
import {
  ALL_HOSTS_SET,
  ipipInputRules,
  tunnelDevicesOf,
  tunnelMasqueradeRules,
  vxlanNotrackRule,
} from "./tunnel-rules.js";
import { ALL_VXLAN_SOURCES_SET, ALL_VXLAN_SOURCES_SET_V6, vxlanInputRules } from "./vxlan-input.js";

const FAMILIES: readonly IpVersion[] = [4, 6];
/** Problems this node raises itself, by key prefix. */
const OWN_PROBLEM = /^Node\/\/[^/]+\/(vxlan|ipip)$/;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export interface NetworkChains {
  /** Sets (or replaces) a chain, keeping identity when its rules did not change. */
  put(v: IpVersion, table: "raw" | "nat" | "filter", chain: Chain): void;
  /** The static chain as rules/static.ts renders it (what the network rules go in front of). */
  staticChain(v: IpVersion, table: "raw" | "nat" | "filter", name: string): Chain | undefined;
  /** A host endpoint is in force: cali-OUTPUT ends in its egress policy (network/tunnel-output.ts). */
  readonly hostEndpoints?: boolean;
  /** The filter allow action (ACCEPT or RETURN). */
  readonly allow?: Action;
}

/** A `hash:net` set of ours (undefined members: none), written only when its members changed. */
function putSet(d: Draft<DesiredState>, name: string, members: readonly string[] | undefined, v: IpVersion = 4): void {
  if (!members) {
    writeIpSet(d, name, undefined);
    return;
  }
  const want = new Set(members);
  const old = peekIpSet(d, name);
  if (old && sameMembers(old.members, want)) return;
  const set: IpSetState = { name, family: v, type: "hash:net", members: want };
  writeIpSet(d, name, set);
}

export function putNetwork(
  d: Draft<DesiredState>,
  net: NetworkIndex,
  chains: NetworkChains,
  /** natOutgoing's options and masqFullyRandom (the settings in force). */
  nat: NatOutgoingOptions = {},
): void {
  const { state, problems } = net.network();
  const cur = d.network as NetworkState;
  if (!same(cur, state)) {
    const next: { -readonly [K in keyof NetworkState]: NetworkState[K] } = { ...cur };
    for (const k of Object.keys(state) as (keyof NetworkState)[]) {
      if (!same(cur[k], state[k])) (next as Record<string, unknown>)[k] = state[k];
    }
    d.network = castDraft(next);
  }
  for (const key of Object.keys(d.problems)) if (OWN_PROBLEM.test(key) && !problems.has(key)) delete d.problems[key];
  for (const [key, message] of problems) {
    if (peek(d.problems, key)?.message !== message) d.problems[key] = { key, message };
  }

  // Felix keeps both sets while pools exist; with no pool at all there is nothing to match.
  for (const v of FAMILIES) {
    const sets = net.natOutgoingSets(v);
    for (const [id, members] of [
      [NAT_OUTGOING_ALL_SET, sets.all],
      [NAT_OUTGOING_MASQ_SET, sets.masq],
    ] as const) {
      putSet(d, natOutgoingSetName(id, v), state.poolsInUse ? hashNetMembers(members) : undefined, v);
    }
    chains.put(v, "nat", { name: NAT_OUTGOING_CHAIN, rules: natOutgoingRules(sets.masq.length > 0, v, nat) });
  }

  // VXLAN in use: only the other nodes' VTEPs may send us VXLAN; IPIP in use:
  // only Calico hosts may send us IP-in-IP.
  const vx = state.tunnels[VXLAN_DEVICE];
  const vx6 = state.tunnels[VXLAN_V6_DEVICE];
  const ipip = state.tunnels[IPIP_DEVICE];
  putSet(d, ALL_VXLAN_SOURCES_SET, vx ? net.remoteVtepAddresses(4) : undefined);
  putSet(d, ALL_VXLAN_SOURCES_SET_V6, vx6 ? net.remoteVtepAddresses(6) : undefined, 6);
  putSet(d, ALL_HOSTS_SET, ipip ? net.allHostAddresses() : undefined);
  const portOf = (v: IpVersion) => {
    const dev = v === 4 ? vx : vx6;
    return dev ? (dev.port ?? 4789) : undefined;
  };
  for (const v of FAMILIES) {
    const input = chains.staticChain(v, "filter", "cali-INPUT");
    if (!input) continue;
    const port = portOf(v);
    const guards = [
      ...(ipip && v === 4 ? ipipInputRules() : []),
      ...(port !== undefined ? vxlanInputRules(port, v) : []),
    ];
    chains.put(v, "filter", { name: input.name, rules: [...guards, ...input.rules] });
    const output = chains.hostEndpoints ? chains.staticChain(v, "filter", "cali-OUTPUT") : undefined;
    if (output) {
      const allow = tunnelOutputRules(v, ipip !== undefined, port, chains.allow ?? Actions.accept);
      chains.put(v, "filter", { name: output.name, rules: withTunnelOutput(output.rules, allow) });
    }
  }
  for (const v of FAMILIES) {
    const vxlanPort = portOf(v);
    // VXLAN NOTRACK right after the marks are cleared, in both raw chains.
    const notrack = vxlanPort !== undefined ? [vxlanNotrackRule(vxlanPort)] : [];
    for (const name of ["cali-PREROUTING", "cali-OUTPUT"]) {
      const c = chains.staticChain(v, "raw", name);
      if (c) chains.put(v, "raw", { name, rules: [c.rules[0], ...notrack, ...c.rules.slice(1)] });
    }
    const post = chains.staticChain(v, "nat", "cali-POSTROUTING");
    if (post) {
      const masq = tunnelDevicesOf(v, state.tunnels).flatMap((dev) =>
        tunnelMasqueradeRules(dev, vxlanPort, nat.masqFullyRandom !== false),
      );
      chains.put(v, "nat", { name: post.name, rules: [...post.rules, ...masq] });
    }
  }
}
