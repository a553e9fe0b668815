// Kernel names in our nftables tables. nft identifiers may not hold ':' (ipset
// ids do: `cali40s:<hash>`), so a set keeps its ipset name with ':' → '.'; no
// ipset name of ours holds a '.', so the mapping is injective.
//
// Our objects live in tables split by function (parts.ts): `calico` (Felix's
// name) holds the raw, mangle and filter chains — policy — and the nat chains
// — NAT-outgoing and the services — are in NAT_SHARDS nat tables,
// `calico-nat` (shard 0: Calico's own nat chains, NAT-outgoing, masquerade,
// and the services that hash there) and `calico-nat-1` … `calico-nat-7`
// (model/nat-shards.ts). Why: at commit the kernel re-walks every chain
// reachable from a table's base chains whenever a transaction adds a rule
// with a verdict, jump, lookup or nat expression to that table
// (nft_table_validate), so a policy change must not pay for the walk of 55k
// service chains, nor a service change for policy or for the other shards'
// services. Divergence from Felix, which keeps everything in one `calico`
// table: at `large` the commit of one service change costs the kernel
// 72-93 ms in one nat table and ~10 ms in one of eight (nftables/README.md).
// A shard table other than `calico-nat` exists only while it holds services.

import { NAT_SHARDS, natShardName } from "../model/nat-shards.js";

/** Our policy table in the `ip` and `ip6` families, as Felix names it. */
export const NFT_TABLE = "calico";
/** Our first NAT table (same families): NAT-outgoing, masquerade, services of shard 0. */
export const NFT_NAT_TABLE = "calico-nat";

/** The nat table of shard `k` (model/nat-shards.ts): names of ours, fixed, never from input. */
export function natTableName(k: number): string {
  return natShardName(NFT_NAT_TABLE, k);
}

/** Our nat tables, shard order. */
export const NFT_NAT_TABLES: readonly string[] = Array.from({ length: NAT_SHARDS }, (_, k) => natTableName(k));

/** Every table of ours, the policy table first (the order they are read, written and listed in). */
export const NFT_TABLES: readonly string[] = [NFT_TABLE, ...NFT_NAT_TABLES];

/** The nft set holding what the ipset `ipsetName` would hold. */
export function nftSetName(ipsetName: string): string {
  return ipsetName.replaceAll(":", ".");
}
