// nft-only objects of our table that no iptables table or ipset has: the
// verdict maps, the per-endpoint affinity sets and the cluster-IP set of
// kube-proxy's nftables layout (FELIX_PROXYMODE=nftables). The graph says what they hold; nftables/
// writes them (objects.ts) and keeps them in sync element by element.

import type { TableName } from "./tables.js";

/** What a map element decides: go to (or jump to) a chain of the map's table, or drop. */
export type MapVerdict = { readonly kind: "goto" | "jump"; readonly chain: string } | { readonly kind: "drop" };

/**
 * A verdict map (`ipv4_addr . inet_proto . inet_service : verdict` or
 * `inet_proto . inet_service : verdict`). Element keys are written as ipset
 * members are: `10.96.0.10,tcp:53` (key `daddr.proto.dport`) or `tcp:30080`
 * (`proto.dport`); the rules that look the map up name it with Actions.vmap.
 */
export interface VerdictMapState {
  readonly kind: "vmap";
  /** nft name (kube-proxy's: `service-ips`, `service-nodeports`, …). */
  readonly name: string;
  readonly family: 4 | 6;
  readonly key: "daddr.proto.dport" | "proto.dport";
  /** The iptables table whose chains the verdicts name (chain X of table T is nft chain `T-X`). */
  readonly table: TableName;
  readonly elements: ReadonlyMap<string, MapVerdict>;
}

/**
 * A set of source addresses the kernel fills (`update @set { ip saddr }`),
 * each forgotten `timeoutSeconds` after its last update: session affinity.
 * Its elements are the kernel's, never ours to write or delete.
 */
export interface AffinitySetState {
  readonly kind: "affinitySet";
  readonly name: string;
  readonly family: 4 | 6;
  readonly timeoutSeconds: number;
}

/** A plain set of addresses of the family (kube-proxy's `cluster-ips`); `elements` are canonical addresses. */
export interface AddressSetState {
  readonly kind: "addressSet";
  readonly name: string;
  readonly family: 4 | 6;
  readonly elements: ReadonlySet<string>;
}

export type NftObjectState = VerdictMapState | AffinitySetState | AddressSetState;

/** DesiredState.nftObjects key: the same name lives in both families' tables. */
export const nftObjectKey = (o: Pick<NftObjectState, "family" | "name">) => `${o.family}/${o.name}`;
