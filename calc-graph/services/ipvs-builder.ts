// Writes the IPVS proxy mode's part of a DesiredState draft, for the state
// builder to call when services or node addresses changed: `ipvs` (virtual
// services, bound addresses), the IPVS IP sets, the cali-IPVS-* chains and
// their hook rules, and the IPVS sysctls. Whatever did not change keeps its
// object (and so its identity): the dataplane skips it.

import { castDraft, type Draft, isDraft, original } from "immer";
import { type ChainRenderer, sameRules } from "../../model/chain-render.js";
import type { IpSetState } from "../../model/ipset.js";
import { ipSetOf } from "../../model/ipset-shards.js";
import type { RenderedRule, TableName } from "../../model/tables.js";
import { type ChainStats, ChainWrites } from "../chain-writer.js";
import { DEFAULT_CHAINS } from "../default-renderer.js";
import { type DesiredState, familyKey } from "../desired-state.js";
import { writeIpSet } from "../ipsets/draft-ipset.js";
import { ipSetName } from "../ipsets/ids.js";
import { countMember } from "../ipsets/member-count.js";
import type { IpVersion } from "../model.js";
import { sameList, sameMembers } from "../same.js";
import { desiredIpvs, type IpvsDesired, type IpvsOptions } from "./ipvs-desired.js";
import {
  boundAddressMembers,
  IPVS_SET_IDS,
  IPVS_SET_NAMES,
  IPVS_SYSCTLS,
  ipvsSet,
  ipvsTableRules,
  podCidrSetMembers,
  servicePortSetMembers,
} from "./ipvs-rules.js";
import type { ServicePort } from "./model.js";

export interface IpvsInputs {
  readonly servicePorts: readonly ServicePort[];
  /** This node's addresses (NodePorts are served on them). */
  readonly nodeAddresses: readonly string[];
  /** This node's own IPs (its InternalIPs), for the LB source ranges' allow-from-node entry; default nodeAddresses. */
  readonly nodeIPs?: readonly string[];
  /** The cluster's pod CIDRs: cluster-IP traffic from elsewhere is masqueraded. */
  readonly podCidrs: readonly string[];
  /** The masquerade mark (from iptablesMarkMask). */
  readonly masqMark?: number;
  /** kube-proxy's --masquerade-all. */
  readonly masqueradeAll?: boolean;
}

const FAMILIES: readonly IpVersion[] = [4, 6];
const BOUND_SET = IPVS_SET_IDS.ipvsIPs;

/** Hook rules are hashed from a seed of their own, so they never collide with other inserts in that chain. */
const hookSeed = (builtin: string) => `${builtin}*ipvs*`;

export class IpvsStateBuilder {
  /** `ipv4/nat/PREROUTING` → the hashes of the hook rules we put there. */
  private readonly ourHooks = new Map<string, Set<string>>();
  /** The IP sets' members, refcounted, from what each ServicePort object contributed. */
  private readonly sets = new IpvsSetIndex();

  /** Chain work counters (the graph passes its builder's, for tests and benchmarks). */
  readonly stats: ChainStats;

  constructor(
    private readonly opts: IpvsOptions = {},
    stats?: ChainStats,
    private readonly chains: ChainRenderer = DEFAULT_CHAINS,
  ) {
    this.stats = stats ?? { chainsRendered: 0, chainsChanged: 0 };
  }

  /** `writes`: the flush's chain writes; without them the chains are put into `d` before returning. */
  put(d: Draft<DesiredState>, inputs: IpvsInputs, writes?: ChainWrites): void {
    // Compare with the base snapshot, not through the draft: reading a draft
    // proxies every nested object it touches, which costs more than the diff.
    const base = (isDraft(d) ? original(d) : d) as DesiredState;
    const chains = writes ?? new ChainWrites(base, undefined, this.chains);
    const next = desiredIpvs(inputs.servicePorts, inputs.nodeAddresses, this.opts);
    // Frozen here so immer does not walk (and freeze) thousands of virtual services.
    if (!base.ipvs || !sameIpvs(base.ipvs, next)) d.ipvs = castDraft(Object.freeze(next));
    // A set missing from the base (a snapshot this builder did not write) is put whole.
    const missing = IPVS_SET_NAMES.filter((name) => !ipSetOf(base.ipsets, name));
    for (const set of this.sets.update(inputs, missing)) if (!set.name.endsWith(BOUND_SET)) putSet(d, base, set);
    // The bound addresses come from the table, not from one ServicePort.
    const bound = new Map<string, Set<string>>(FAMILIES.map((v) => [ipSetName(IPVS_SET_IDS.ipvsIPs, v), new Set()]));
    for (const [name, ip] of boundAddressMembers(next.boundAddresses)) bound.get(name)!.add(ip);
    for (const [name, members] of bound) putSet(d, base, ipvsSet(name, members));
    const healthCheckNodePorts = inputs.servicePorts.flatMap((sp) =>
      sp.healthCheckNodePort !== undefined ? [sp.healthCheckNodePort] : [],
    );
    for (const v of FAMILIES) {
      const rules = ipvsTableRules(v, { ...inputs, healthCheckNodePorts });
      for (const t of ["nat", "filter"] as const) {
        for (const c of rules[t].chains) chains.write(v, t, c.name, c, this.stats);
        for (const [builtin, hookRules] of Object.entries(rules[t].hooks)) {
          this.putHook(
            d,
            v,
            t,
            builtin,
            this.chains.renderRules(hookSeed(builtin), hookRules, { family: v, table: t }),
          );
        }
      }
    }
    for (const [k, val] of Object.entries(IPVS_SYSCTLS)) if (d.sysctls[k] !== val) d.sysctls[k] = val;
    if (!writes) chains.commit(d);
  }

  /** Our hook rules go first in the built-in chain; others' hook rules there keep their order after them. */
  private putHook(
    d: Draft<DesiredState>,
    v: IpVersion,
    t: TableName,
    builtin: string,
    mine: readonly RenderedRule[],
  ): void {
    const key = `${familyKey(v)}/${t}/${builtin}`;
    const hooks = d.iptables[familyKey(v)][t].hooks;
    const old = hooks[builtin];
    const insert = old?.insert ?? [];
    if (sameRules(insert.slice(0, mine.length), mine)) {
      this.ourHooks.set(key, new Set(mine.map((r) => r.hash)));
      return;
    }
    const before = this.ourHooks.get(key) ?? new Set<string>();
    const others = insert.filter((r) => !before.has(r.hash));
    hooks[builtin] = castDraft({ insert: [...mine, ...others], append: old?.append ?? [] });
    this.ourHooks.set(key, new Set(mine.map((r) => r.hash)));
  }
}

function putSet(d: Draft<DesiredState>, base: DesiredState, set: IpSetState): void {
  const old = ipSetOf(base.ipsets, set.name);
  if (old && old.type === set.type && sameMembers(old.members, set.members)) return;
  writeIpSet(d, set.name, Object.freeze(set));
}

/**
 * The IPVS IP sets kept up to date from the ServicePort objects that came and
 * went since the last update (the services index keeps a clean service's
 * objects), so one endpoint change touches one service's members, not every
 * service's. A change of node addresses or pod CIDRs starts over.
 */
class IpvsSetIndex {
  private readonly members = new Map<string, Map<string, number>>(IPVS_SET_NAMES.map((n) => [n, new Map()]));
  private readonly contributed = new Map<ServicePort, readonly (readonly [string, string])[]>();
  private context: string | undefined;

  /** The sets whose members changed (every set the first time) and the `also` ones, as new IpSetStates. */
  update(inputs: IpvsInputs, also: readonly string[]): IpSetState[] {
    const dirty = new Set<string>(also);
    const context = JSON.stringify([inputs.nodeAddresses, inputs.nodeIPs, inputs.podCidrs]);
    if (context !== this.context) {
      this.context = context;
      for (const m of this.members.values()) m.clear();
      this.contributed.clear();
      for (const name of IPVS_SET_NAMES) dirty.add(name);
      this.count(podCidrSetMembers(inputs.podCidrs), 1, dirty);
    }
    const now = new Set(inputs.servicePorts);
    for (const [sp, members] of this.contributed) {
      if (now.has(sp)) continue;
      this.count(members, -1, dirty);
      this.contributed.delete(sp);
    }
    for (const sp of inputs.servicePorts) {
      if (this.contributed.has(sp)) continue;
      const members = servicePortSetMembers(sp, inputs.nodeAddresses, inputs.nodeIPs);
      this.count(members, 1, dirty);
      this.contributed.set(sp, members);
    }
    return [...dirty].sort().map((name) => ipvsSet(name, new Set([...this.members.get(name)!.keys()])));
  }

  private count(members: readonly (readonly [string, string])[], delta: 1 | -1, dirty: Set<string>): void {
    for (const [name, member] of members) if (countMember(this.members.get(name)!, member, delta)) dirty.add(name);
  }
}

/** Whether two desired IPVS states are the same; virtual services are compared by identity first (memoized per ServicePort). */
function sameIpvs(a: IpvsDesired, b: IpvsDesired): boolean {
  if (
    a.device !== b.device ||
    a.nodePortRange[0] !== b.nodePortRange[0] ||
    a.nodePortRange[1] !== b.nodePortRange[1] ||
    !sameList(a.boundAddresses, b.boundAddresses) ||
    !sameList(a.nodeAddresses, b.nodeAddresses)
  ) {
    return false;
  }
  const keys = Object.keys(a.services);
  if (!sameList(keys, Object.keys(b.services))) return false;
  return keys.every((k) => {
    const x = a.services[k];
    const y = b.services[k];
    return x === y || JSON.stringify(x) === JSON.stringify(y);
  });
}
