// Stage 1 of a cold start in iptables mode (src/nat-first.ts): both families'
// nat tables and the IP sets their rules use, nothing else. The sets are
// created and filled before the rules that name them; nothing is deleted (no
// stale chain, no stale set: the full apply that follows does that), and no
// other table is planned or touched (TableSyncer's SomeTables). The restores'
// input is spooled (iptables/spool.ts): once they have started, the caller may
// keep the main thread busy for seconds without stalling them.

import type { DesiredState } from "../calc-graph/desired-state.js";
import type { IpSetState } from "../iptables/ipset.js";
import { ipSetOf } from "../model/ipset-shards.js";
import type { TableState } from "../model/tables.js";
import type { IptablesPolicy } from "./dataplane-iptables.js";

export interface NatFirstResult {
  /** Kernel writes: nat table lines, IP set members and sets. */
  readonly changes: number;
  readonly iptablesBytes: number;
  readonly ipsetBytes: number;
  /** nftables mode: bytes of the nat tables' `nft -f` texts. */
  readonly nftBytes?: number;
  /** Time inside ipset and iptables-restore, ms. */
  readonly restoreMs: number;
}

const MATCH_SET = /--match-set (\S+)/g;

/** The IP sets a table's rules (chains and hooks) name. */
export function setsNamedBy(t: TableState, into = new Set<string>()): Set<string> {
  const scan = (rules: readonly { text: string }[]) => {
    for (const r of rules) {
      // "set " first (in every text that holds "--match-set "): V8 scans for a pattern under 7 characters
      // by its first character; a longer one, in a text of many "-" near-misses, switches to Boyer-Moore
      // and builds its tables per call (~4× the time over the 160k nat rules at `large`).
      if (!r.text.includes("set ") || !r.text.includes("--match-set ")) continue;
      for (const m of r.text.matchAll(MATCH_SET)) into.add(m[1]);
    }
  };
  // Shard by shard, by for…in: a list of every chain first (chainList: 55k at scale) made the
  // scan ~30% slower. (Shards have no prototype; the index's own keys only.)
  for (const k in t.shards) {
    if (!Object.hasOwn(t.shards, k)) continue;
    const shard = t.shards[k];
    for (const name in shard) scan(shard[name].rules);
  }
  for (const h of Object.values(t.hooks)) {
    scan(h.insert);
    scan(h.append);
  }
  return into;
}

/**
 * Writes the nat tables of `state` and the sets they use. `onStarted`: called once every
 * restore has its whole input (or has ended), i.e. nothing of ours is needed until they end.
 */
export async function applyNatFirst(
  p: IptablesPolicy,
  state: DesiredState,
  onStarted: () => void,
  /** Called once the sets are written (before the restores): IpsetSyncer is free again. */
  onSetsDone: () => void = () => {},
): Promise<NatFirstResult> {
  const families = [
    { syncer: p.ipv4, tables: state.iptables.ipv4 },
    ...(p.ipv6 ? [{ syncer: p.ipv6, tables: state.iptables.ipv6 }] : []),
  ];
  const names = new Set<string>();
  for (const f of families) setsNamedBy(f.tables.nat, names);
  const sets = [...names]
    .map((n) => ipSetOf(state.ipsets, n))
    .filter((s): s is IpSetState => s !== undefined && (s.family === 4 || p.ipv6 !== undefined));
  const fill = sets.length > 0 ? await (await p.ipsets.begin(sets)).done : undefined;
  onSetsDone();
  const started: Promise<unknown>[] = [];
  const written = families.map((f) => {
    let start = () => {};
    started.push(new Promise<void>((r) => (start = r)));
    const w = f.syncer.apply(f.tables, undefined, undefined, {
      tables: ["nat"],
      retries: 0,
      restore: { spool: true, onStarted: () => start() },
    });
    w.then(start, start); // ended without starting a program (nothing to write, or a failure)
    return w;
  });
  void Promise.all(started).then(onStarted);
  const results = await Promise.all(written);
  const sum = (f: (r: (typeof results)[number]) => number) => results.reduce((n, r) => n + f(r), 0);
  return {
    changes:
      sum((r) => r.linesWritten) +
      (fill ? fill.setsCreated + fill.setsSwapped + fill.setsRecreated + fill.membersAdded + fill.membersRemoved : 0),
    iptablesBytes: sum((r) => r.bytesWritten),
    ipsetBytes: fill?.bytesWritten ?? 0,
    restoreMs: sum((r) => r.restoreMs) + (fill?.restoreMs ?? 0),
  };
}
