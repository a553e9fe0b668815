// Leaving nftables mode (FELIX_NFTABLESMODE=Disabled after Enabled): our
// tables go (`calico` and `calico-nat`), each family's in one transaction,
// and nothing else does. `delete table` of a table that is not there fails,
// so each is listed first; one removed meanwhile (another agent's cleanup)
// counts as removed.

import { type NftBackend, NftError } from "./backend.js";
import { NFT_TABLES } from "./names.js";

/** Deletes our tables through each backend; returns the families whose tables were removed. */
export async function removeNftTables(backends: readonly NftBackend[]): Promise<string[]> {
  const removed: string[] = [];
  for (const b of backends) {
    const present = async () => {
      const out: string[] = [];
      for (const t of NFT_TABLES) if ((await b.list(t)) !== undefined) out.push(t);
      return out;
    };
    const tables = await present();
    if (tables.length === 0) continue;
    try {
      await b.transact(tables.map((t) => `delete table ${b.family} ${t}\n`).join(""));
    } catch (e) {
      if (!(e instanceof NftError) || (await present()).length > 0) throw e;
    }
    removed.push(b.family);
  }
  return removed;
}
