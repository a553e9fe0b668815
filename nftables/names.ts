// Kernel names in our nftables tables. nft identifiers may not hold ':' (ipset
// ids do: `cali40s:<hash>`), so a set keeps its ipset name with ':' → '.'; no
// ipset name of ours holds a '.', so the mapping is injective.
//
// Our objects live in two tables per family, split by function (parts.ts):
// `calico` (Felix's name) holds the raw, mangle and filter chains — policy —
// and `calico-nat` the nat chains — NAT-outgoing and the services. Why: at
// commit the kernel re-walks every chain reachable from a table's base chains
// whenever a transaction adds a rule with a verdict, jump, lookup or nat
// expression to that table (nft_table_validate), so a policy change must not
// pay for the walk of 55k service chains, nor a service change for policy.

/** Our policy table in the `ip` and `ip6` families, as Felix names it. */
export const NFT_TABLE = "calico";
/** Our NAT and services table (same families). */
export const NFT_NAT_TABLE = "calico-nat";
/** Every table of ours, the policy table first (the order they are read, written and listed in). */
export const NFT_TABLES: readonly string[] = [NFT_TABLE, NFT_NAT_TABLE];

/** The nft set holding what the ipset `ipsetName` would hold. */
export function nftSetName(ipsetName: string): string {
  return ipsetName.replaceAll(":", ".");
}
