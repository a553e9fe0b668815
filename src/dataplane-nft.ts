// Steps 1-3 of the dataplane in nftables mode: each family's tables of ours
// (`calico` and the nat tables), IP sets (as nft sets) and chains together, in one transaction
// (nftables/table-syncer.ts orders it so references stay valid). A family's
// transaction is due when its tables or the IP sets changed identity since
// the state applied last. Both families' transactions run at once.

import type { DesiredState } from "../calc-graph/desired-state.js";
import { allSettledOrThrow } from "../nftables/settled.js";
import type { NftSyncResult, NftTableSyncer } from "../nftables/table-syncer.js";
import type { PolicyResult } from "./dataplane.js";
import type { NatFirstResult } from "./dataplane-nat-first.js";

export interface NftPolicy {
  readonly ipv4: NftTableSyncer;
  /** Absent when IPv6 is off: no ip6 tables of ours. */
  readonly ipv6?: NftTableSyncer;
}

export async function applyNftPolicy(
  nft: NftPolicy,
  state: DesiredState,
  last: DesiredState | undefined,
): Promise<PolicyResult> {
  // The nft-only objects (kube-proxy's maps, FELIX_PROXYMODE=nftables) count as sets.
  const setsChanged = last?.ipsets !== state.ipsets || last?.nftObjects !== state.nftObjects;
  // The families are independent tables (a packet meets ip or ip6 ones, and each has its
  // own sets), so both transactions run at once, as iptables mode's restores do: at a cold
  // start the ip6 load hides under the ip one's. A family refused after its retries leaves
  // the other one's transaction in: the driver re-applies, and that one has nothing left to write.
  const due = [
    setsChanged || last?.iptables.ipv4 !== state.iptables.ipv4
      ? nft.ipv4.apply(state.iptables.ipv4, state.ipsets, state.nftObjects)
      : undefined,
    nft.ipv6 && (setsChanged || last?.iptables.ipv6 !== state.iptables.ipv6)
      ? nft.ipv6.apply(state.iptables.ipv6, state.ipsets, state.nftObjects)
      : undefined,
  ].filter((p) => p !== undefined);
  return { ...written(await allSettledOrThrow(due)), warnings: [] };
}

/** What the families' transactions wrote, together: commands (chain/set adds and deletes, rules, elements), bytes, time. */
function written(results: readonly NftSyncResult[]): Required<NatFirstResult> {
  let changes = 0;
  let nftBytes = 0;
  let restoreMs = 0;
  for (const r of results) {
    changes += r.linesWritten;
    nftBytes += r.bytesWritten;
    restoreMs += r.restoreMs;
  }
  return { changes, iptablesBytes: 0, ipsetBytes: 0, nftBytes, restoreMs };
}

/**
 * Stage 1 of a cold start (src/nat-first.ts) in nftables mode: both families' nat tables that
 * are not there, each loaded whole (NftTableSyncer.loadNatFirst); `onStarted` once both have
 * rendered their text. The syncers keep the loaded tables' views: the full apply writes only
 * what differs there, and `calico`.
 */
export async function applyNftNatFirst(
  nft: NftPolicy,
  state: DesiredState,
  onStarted: () => void,
): Promise<NatFirstResult> {
  const families = [
    { syncer: nft.ipv4, tables: state.iptables.ipv4 },
    ...(nft.ipv6 ? [{ syncer: nft.ipv6, tables: state.iptables.ipv6 }] : []),
  ];
  const want = (tables: DesiredState["iptables"]["ipv4"]) =>
    state.nftObjects ? { tables, sets: state.ipsets, objects: state.nftObjects } : { tables, sets: state.ipsets };
  // One after the other to render (the main thread), at once to load (the syncers share the slots).
  const loads: Promise<NftSyncResult>[] = [];
  for (const f of families) {
    let started = () => {};
    const ready = new Promise<void>((r) => (started = r));
    const load = f.syncer.loadNatFirst(want(f.tables), started);
    loads.push(load);
    await Promise.race([ready, load.catch(() => {})]);
  }
  onStarted(); // every family has rendered its text
  return written(await allSettledOrThrow(loads));
}
