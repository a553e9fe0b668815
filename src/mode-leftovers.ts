// Switching between the iptables and the nftables dataplane (FELIX_NFTABLESMODE):
// the mode the agent runs removes what the other mode of ours left in the
// kernel, and only after its own policy is in force (Dataplane runs it after
// the policy step), so the node is never without policy in between. While
// both are there a packet must pass both (netfilter runs every base chain and
// every iptables hook), which is never more open than either alone.

import type { IpsetSyncer } from "../iptables/ipset-syncer.js";
import type { TableSyncer } from "../iptables/table-syncer.js";
import { type FamilyTables, tableState } from "../model/tables.js";
import type { NftBackend } from "../nftables/backend.js";

export interface Leftovers {
  /** What goes, for messages. */
  readonly what: string;
  /** Removes it; returns how many kernel objects (tables, chains' owners, sets) went. */
  remove(): Promise<number>;
}

const EMPTY: FamilyTables = {
  raw: tableState(),
  mangle: tableState(),
  nat: tableState(),
  filter: tableState(),
};

/**
 * Entering nftables mode: our `cali-` chains and hook rules in every iptables
 * backend given (each family), then our IP sets once no rule of ours uses them.
 */
export class IptablesLeftovers implements Leftovers {
  readonly what = "iptables rules and IP sets of the iptables dataplane";
  /** The first removal plans against the syncers' views read at start (TableSyncer.adopt); later ones read again. */
  private first = true;
  /**
   * `tables`: each backend's syncer, with the view read at start (src/kernel.ts), before this
   * mode's nft tables are loaded: a save of iptables-nft dumps every chain of the family, ours too
   * (at `large` 55k, 0.4 s of iptables-nft-save after the load against ~0 before it, on the way
   * to the first "programmed").
   */
  constructor(
    private readonly tables: readonly TableSyncer[],
    private readonly ipsets?: IpsetSyncer,
  ) {}

  async remove(): Promise<number> {
    const first = this.first;
    this.first = false;
    let n = 0;
    for (const t of this.tables) {
      if (!first) t.invalidate();
      const r = await t.apply(EMPTY);
      n += r.chainsDeleted + r.hooksWritten;
    }
    if (this.ipsets) {
      const r = await this.ipsets.removeStale([]);
      if (r.inUse.length > 0) throw new Error(`IP sets still in use: ${r.inUse.join(", ")}`);
      n += r.destroyed;
    }
    return n;
  }
}

/** Entering iptables mode: our nft tables (`calico`, the `calico-nat*` ones, both families), once the iptables rules are in. */
export class NftLeftovers implements Leftovers {
  readonly what = "nftables tables of the nftables dataplane";
  constructor(private readonly backends: readonly NftBackend[]) {}

  async remove(): Promise<number> {
    // Loaded here: an iptables-mode start without such tables never needs it.
    const { removeNftTables } = await import("../nftables/remove.js");
    return (await removeNftTables(this.backends)).length;
  }
}
