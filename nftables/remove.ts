// Leaving nftables mode (FELIX_NFTABLESMODE=Disabled after Enabled): our
// tables go, each in one transaction, and nothing else does. `delete table`
// of a table that is not there fails, so each family is listed first; one
// removed meanwhile (another agent's cleanup) counts as removed.

import { type NftBackend, NftError } from "./backend.js";
import { NFT_TABLE } from "./names.js";

/** Deletes `<family> calico` through each backend; returns the families whose table was removed. */
export async function removeNftTables(backends: readonly NftBackend[]): Promise<string[]> {
  const removed: string[] = [];
  for (const b of backends) {
    if ((await b.list()) === undefined) continue;
    try {
      await b.transact(`delete table ${b.family} ${NFT_TABLE}\n`);
    } catch (e) {
      if (!(e instanceof NftError) || (await b.list()) !== undefined) throw e;
    }
    removed.push(b.family);
  }
  return removed;
}
