// Writes the IPVS proxy mode's part of a DesiredState draft, for the state
// builder to call when services or node addresses changed: `ipvs` (virtual
// services, bound addresses), the IPVS IP sets, the cali-IPVS-* chains and
// their hook rules, and the IPVS sysctls. Whatever did not change keeps its
// object (and so its identity): the dataplane skips it.

import { castDraft, type Draft, isDraft, original } from "immer";
import type { IpSetState } from "../../iptables/ipset.js";
import { renderRules, sameRules } from "../../iptables/render.js";
import type { TableName } from "../../iptables/tables.js";
import { type ChainStats, ChainWrites } from "../chain-writer.js";
import { type DesiredState, familyKey } from "../desired-state.js";
import type { IpVersion } from "../model.js";
import { desiredIpvs, type IpvsDesired, type IpvsOptions } from "./ipvs-desired.js";
import { IPVS_SYSCTLS, ipvsIpSets, ipvsTableRules } from "./ipvs-rules.js";
import type { ServicePort } from "./model.js";

export interface IpvsInputs {
  readonly servicePorts: readonly ServicePort[];
  /** This node's addresses (NodePorts are served on them). */
  readonly nodeAddresses: readonly string[];
  /** The cluster's pod CIDRs: cluster-IP traffic from elsewhere is masqueraded. */
  readonly podCidrs: readonly string[];
}

const FAMILIES: readonly IpVersion[] = [4, 6];

/** Hook rules are hashed from a seed of their own, so they never collide with other inserts in that chain. */
const hookSeed = (builtin: string) => `${builtin}*ipvs*`;

export class IpvsStateBuilder {
  /** `ipv4/nat/PREROUTING` → the hashes of the hook rules we put there. */
  private readonly ourHooks = new Map<string, Set<string>>();
  /** The last `ipvs` put and its JSON, so an unchanged one costs one stringify. */
  private last?: { readonly ipvs: IpvsDesired; readonly json: string };

  /** Chain work counters (the graph passes its builder's, for tests and benchmarks). */
  readonly stats: ChainStats;

  constructor(
    private readonly opts: IpvsOptions = {},
    stats?: ChainStats,
  ) {
    this.stats = stats ?? { chainsRendered: 0, chainsChanged: 0 };
  }

  /** `writes`: the flush's chain writes; without them the chains are put into `d` before returning. */
  put(d: Draft<DesiredState>, inputs: IpvsInputs, writes?: ChainWrites): void {
    // Compare with the base snapshot, not through the draft: reading a draft
    // proxies every nested object it touches, which costs more than the diff.
    const base = (isDraft(d) ? original(d) : d) as DesiredState;
    const chains = writes ?? new ChainWrites(base);
    const next = desiredIpvs(inputs.servicePorts, inputs.nodeAddresses, this.opts);
    const json = JSON.stringify(next);
    const prev = base.ipvs && (this.last?.ipvs === base.ipvs ? this.last.json : JSON.stringify(base.ipvs));
    if (json !== prev) d.ipvs = castDraft(next);
    this.last = { ipvs: json !== prev ? next : (base.ipvs as IpvsDesired), json };
    for (const set of ipvsIpSets(inputs.servicePorts, inputs.nodeAddresses, inputs)) putSet(d, base, set);
    for (const v of FAMILIES) {
      const rules = ipvsTableRules(v, inputs);
      for (const t of ["nat", "filter"] as const) {
        for (const c of rules[t].chains) chains.write(v, t, c.name, c, this.stats);
        for (const [builtin, hookRules] of Object.entries(rules[t].hooks)) {
          this.putHook(d, v, t, builtin, renderRules(hookSeed(builtin), hookRules));
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
    mine: ReturnType<typeof renderRules>,
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
  const old = base.ipsets[set.name];
  if (old && old.type === set.type && sameMembers(old.members, set.members)) return;
  d.ipsets[set.name] = castDraft(set);
}

function sameMembers(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
