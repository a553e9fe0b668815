// Steps 1-3 of the dataplane in iptables mode: the IP sets, both families'
// tables and the stale sets, each started as early as its order allows (see
// dataplane.ts for the order and why).

import type { DesiredState } from "../calc-graph/desired-state.js";
import type { IpSetState } from "../iptables/ipset.js";
import type { IpsetSyncer } from "../iptables/ipset-syncer.js";
import type { TableSyncer } from "../iptables/table-syncer.js";
import { changedIpSets, ipSetList, ipSetOf } from "../model/ipset-shards.js";
import { Steps } from "./apply-steps.js";
import type { PolicyResult } from "./dataplane.js";

export interface IptablesPolicy {
  readonly ipsets: IpsetSyncer;
  readonly ipv4: TableSyncer;
  /** Absent when IPv6 is off. */
  readonly ipv6?: TableSyncer;
}

const NO_IPSETS = {
  setsCreated: 0,
  setsSwapped: 0,
  setsRecreated: 0,
  membersAdded: 0,
  membersRemoved: 0,
  bytesWritten: 0,
  restoreMs: 0,
};
const NO_TABLES = { linesWritten: 0, bytesWritten: 0, restoreMs: 0 };
const NO_STALE = { destroyed: 0, inUse: [] as string[], bytesWritten: 0, restoreMs: 0 };

/** Steps 1-3 in iptables mode: IP sets, both families' tables, stale IP sets. */
export async function applyIptablesPolicy(
  p: IptablesPolicy,
  state: DesiredState,
  last: DesiredState | undefined,
  /**
   * A stage-1 write of the tables still in progress (Dataplane.natFirst): the restores start
   * after it; the IP sets are written meanwhile.
   */
  tablesAfter?: Promise<unknown>,
): Promise<PolicyResult> {
  const ipsets = p.ipsets;
  const ours = (s: IpSetState | undefined): s is IpSetState =>
    s !== undefined && (s.family === 4 || p.ipv6 !== undefined);
  const sets = () => ipSetList(state.ipsets).filter(ours);
  const warnings: string[] = [];
  const setsChanged = last?.ipsets !== state.ipsets;
  // Only sets whose object changed need a diff against the kernel: found by the changed keys, not by
  // listing ~1,500 sets twice on every apply.
  const changed = last ? changedIpSets(last.ipsets, state.ipsets) : undefined;
  const changedSets = changed ? changed.map((k) => ipSetOf(state.ipsets, k)).filter(ours) : sets();
  // Every set exists before the rules are loaded; their members go in meanwhile, and a
  // table whose rules use a set commits only once they are in (IpsetSyncer.begin). The
  // restores are planned and their programs started while the sets are created: each
  // reads its input once they exist.
  const steps = new Steps();
  const t0 = performance.now();
  let ipsetsMs = 0;
  const begun = changedSets.length > 0 ? ipsets.begin(changedSets) : undefined;
  const setsExist = begun?.then((f) => {
    ipsetsMs = +(performance.now() - t0).toFixed(1);
    return f;
  });
  setsExist?.catch(() => {}); // awaited below, after the restores it stopped
  // The two families are independent tables: both restores run at once (legacy's lock still
  // serialises their commits, but each one's start-up and our planning overlap the other's).
  const setsReady = setsExist?.then((f) => f.done);
  setsReady?.catch(() => {}); // a family with nothing to write never awaits it
  const family = async (f: 4 | 6): Promise<typeof NO_TABLES> => {
    const syncer = f === 4 ? p.ipv4 : p.ipv6;
    const tables = f === 4 ? state.iptables.ipv4 : state.iptables.ipv6;
    if (!syncer || last?.iptables[f === 4 ? "ipv4" : "ipv6"] === tables) return NO_TABLES;
    await tablesAfter;
    const t0 = performance.now();
    const r = await syncer.apply(tables, setsReady, setsExist);
    steps.ms[`iptables${f}`] = +(performance.now() - t0).toFixed(1);
    return r;
  };
  const tables = [family(4), family(6)];
  // Stale sets go once no rule names them: their ipset program starts now and destroys once
  // both families' restores are in (none of it if one fails).
  const setRemoved = !changed || changed.some((name) => !ipSetOf(state.ipsets, name));
  const tablesIn = Promise.all(tables);
  tablesIn.catch(() => {}); // the families' own failures are reported below
  const staleP =
    setsChanged && setRemoved ? Promise.resolve(setsExist).then(() => ipsets.removeStale(sets(), tablesIn)) : undefined;
  staleP?.catch(() => {}); // its failure is the restores' (or the sets'): reported from them
  const [r4, r6] = await Promise.allSettled(tables);
  steps.mark("iptables");
  steps.ms.ipsets = ipsetsMs;
  if (r4.status === "rejected" || r6.status === "rejected") {
    // A failed IP set write is what stopped the commit: report that.
    const fill = await setsExist;
    await fill?.done;
    throw r4.status === "rejected" ? r4.reason : (r6 as PromiseRejectedResult).reason;
  }
  const [v4, v6] = [r4.value, r6.value];
  const fill = await setsExist;
  const ipsetUp = fill ? await fill.done : NO_IPSETS;
  steps.mark("ipsetFill");
  const stale = staleP ? await staleP : NO_STALE;
  steps.mark("ipsetsStale");
  for (const name of stale.inUse) warnings.push(`IP set ${name} is still in use by another program; will retry`);
  return {
    changes:
      v4.linesWritten +
      v6.linesWritten +
      ipsetUp.setsCreated +
      ipsetUp.setsSwapped +
      ipsetUp.setsRecreated +
      ipsetUp.membersAdded +
      ipsetUp.membersRemoved +
      stale.destroyed,
    iptablesBytes: v4.bytesWritten + v6.bytesWritten,
    ipsetBytes: ipsetUp.bytesWritten + stale.bytesWritten,
    restoreMs: v4.restoreMs + v6.restoreMs + ipsetUp.restoreMs + stale.restoreMs,
    warnings,
    stepsMs: steps.ms,
  };
}
