// Renders the networking part of a snapshot into an immer draft: the
// NetworkState (each record replaced only when its content changed, so
// unchanged parts keep their identity), the natOutgoing IP sets and the
// rules of cali-nat-outgoing.

import { castDraft, type Draft } from "immer";
import type { IpSetState } from "../../iptables/ipset.js";
import type { Chain } from "../../iptables/rule.js";
import type { DesiredState } from "../desired-state.js";
import { hashNetMembers } from "../ipsets/hash-net.js";
import type { IpVersion } from "../model.js";
import { plain } from "../plain.js";
import { NAT_OUTGOING_CHAIN } from "../rules/static.js";
import {
  NAT_OUTGOING_ALL_SET,
  NAT_OUTGOING_MASQ_SET,
  type NatOutgoingOptions,
  natOutgoingRules,
  natOutgoingSetName,
} from "./nat-outgoing.js";
import type { NetworkIndex } from "./network-index.js";
import type { NetworkState } from "./state.js";
import { ALL_VXLAN_SOURCES_SET, vxlanInputRules } from "./vxlan-input.js";

const FAMILIES: readonly IpVersion[] = [4, 6];
/** Problems this node raises itself, by key prefix. */
const OWN_PROBLEM = /^Node\/\/[^/]+\/(vxlan|ipip)$/;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export interface NetworkChains {
  /** Sets (or replaces) a chain, keeping identity when its rules did not change. */
  put(v: IpVersion, table: "nat" | "filter", chain: Chain): void;
  /** The static chain as rules/static.ts renders it (what the network rules go in front of). */
  staticChain(v: IpVersion, table: "filter", name: string): Chain | undefined;
}

export function putNetwork(
  d: Draft<DesiredState>,
  net: NetworkIndex,
  chains: NetworkChains,
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
    if (d.problems[key]?.message !== message) d.problems[key] = { key, message };
  }

  // Felix keeps both sets while pools exist; with no pool at all there is nothing to match.
  for (const v of FAMILIES) {
    const sets = net.natOutgoingSets(v);
    for (const [id, members] of [
      [NAT_OUTGOING_ALL_SET, sets.all],
      [NAT_OUTGOING_MASQ_SET, sets.masq],
    ] as const) {
      const name = natOutgoingSetName(id, v);
      if (!state.poolsInUse) {
        delete d.ipsets[name];
        continue;
      }
      const old = plain(d.ipsets[name]);
      if (old && same([...old.members].sort(), members)) continue;
      const set: IpSetState = { name, family: v, type: "hash:net", members: new Set(hashNetMembers(members)) };
      d.ipsets[name] = castDraft(set);
    }
    chains.put(v, "nat", { name: NAT_OUTGOING_CHAIN, rules: natOutgoingRules(sets.masq.length > 0, v, nat) });
  }

  // VXLAN in use: only the other nodes' VTEPs may send us VXLAN.
  const vx = state.tunnels["vxlan.calico"];
  if (vx) {
    const members = net.remoteVtepAddresses();
    const old = plain(d.ipsets[ALL_VXLAN_SOURCES_SET]);
    if (!old || !same([...old.members].sort(), members)) {
      const set: IpSetState = { name: ALL_VXLAN_SOURCES_SET, family: 4, type: "hash:net", members: new Set(members) };
      d.ipsets[ALL_VXLAN_SOURCES_SET] = castDraft(set);
    }
  } else delete d.ipsets[ALL_VXLAN_SOURCES_SET];
  const input = chains.staticChain(4, "filter", "cali-INPUT");
  if (input) {
    const rules = vx ? [...vxlanInputRules(vx.port ?? 4789), ...input.rules] : input.rules;
    chains.put(4, "filter", { name: input.name, rules });
  }
}
