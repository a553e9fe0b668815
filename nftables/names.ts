// Kernel names in our nftables tables. nft identifiers may not hold ':' (ipset
// ids do: `cali40s:<hash>`), so a set keeps its ipset name with ':' → '.'; no
// ipset name of ours holds a '.', so the mapping is injective.

/** Our table in the `ip` and `ip6` families, as Felix names it. */
export const NFT_TABLE = "calico";

/** The nft set holding what the ipset `ipsetName` would hold. */
export function nftSetName(ipsetName: string): string {
  return ipsetName.replaceAll(":", ".");
}
