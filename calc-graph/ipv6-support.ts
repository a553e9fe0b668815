// ipv6Support false (FelixConfiguration or FELIX_IPV6SUPPORT): the snapshot
// the graph hands out carries no IPv6 at all — no ip6tables rules, IPv6 IP
// sets, IPv6 routes or IPv6 sysctls — while the builder keeps rendering
// both families inside, so turning it back on needs no replay. A part the
// flush did not change keeps its (filtered) object: consumers still find
// changes by reference.

import { dictFrom } from "../model/dict.js";
import type { IpSets } from "../model/ipset-shards.js";
import type { FamilyTables } from "../model/tables.js";
import { TABLE_NAMES, type TableName, type TableState, tableState } from "../model/tables.js";
import type { DesiredState } from "./desired-state.js";

const NO_TABLES: FamilyTables = Object.freeze(
  Object.fromEntries(TABLE_NAMES.map((t) => [t, tableState()])) as Record<TableName, TableState>,
);

export class Ipv6Filter {
  private readonly memo = new Map<string, { in: object; out: object }>();
  private sets?: { in: IpSets; out: IpSets };

  /** `s` itself when IPv6 is supported, else its IPv4-only view. */
  view(s: DesiredState, ipv6Support: boolean): DesiredState {
    if (ipv6Support) return s;
    return {
      ...s,
      iptables: { ipv4: s.iptables.ipv4, ipv6: NO_TABLES },
      ipsets: this.v4Sets(s.ipsets),
      routes: this.filtered("routes", s.routes, (dst) => !dst.includes(":")),
      sysctls: this.filtered("sysctls", s.sysctls, (k) => !k.startsWith("net/ipv6/")),
    };
  }

  /** The IPv4 sets: a shard is filtered again only when it is not the one filtered last time (filtered's memo). */
  private v4Sets(sets: IpSets): IpSets {
    if (this.sets?.in === sets) return this.sets.out;
    const out = sets.map((shard, i) => this.filtered(`ipsets/${i}`, shard, (_k, set) => set.family === 4));
    this.sets = { in: sets, out };
    return out;
  }

  private filtered<V>(part: string, rec: Readonly<Record<string, V>>, keep: (k: string, v: V) => boolean) {
    const m = this.memo.get(part);
    if (m && m.in === rec) return m.out as Readonly<Record<string, V>>;
    const out = Object.freeze(dictFrom(Object.entries(rec).filter(([k, v]) => keep(k, v))));
    this.memo.set(part, { in: rec, out });
    return out;
  }
}
