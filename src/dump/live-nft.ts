// How felix-dump's live views read our nft table: over netlink, as the agent
// reads it (no nft process: at `large` `nft -j list` prints 59 MB of JSON),
// and through `nft -j list table` only where no NETLINK_NETFILTER socket opens.

import { ExecNftBackend, type NftFamily } from "../../nftables/backend.js";
import { NetlinkNftBackend } from "../../nftables/netlink/backend.js";

export async function readLiveNft<T>(
  family: NftFamily,
  netlink: (b: NetlinkNftBackend) => Promise<T>,
  nft: (json: string | undefined) => T,
): Promise<T> {
  const exec = new ExecNftBackend(family);
  let b: NetlinkNftBackend;
  try {
    b = new NetlinkNftBackend(exec);
  } catch {
    return nft(await exec.list());
  }
  try {
    return await netlink(b);
  } finally {
    b.close();
  }
}
