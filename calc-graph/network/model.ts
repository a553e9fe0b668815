// The Calico networking model: IP pools, block affinities and the Felix
// configuration fields that decide how pod traffic leaves a node.

import type { FelixConfig } from "../config/fields.js";
import type { IpVersion } from "../model.js";
import type { Selector } from "../selector/selector.js";

/** `ipipMode` / `vxlanMode`: encapsulate always, only across subnets, or never. */
export type EncapMode = "Always" | "CrossSubnet" | "Never";

export interface IpPool {
  readonly name: string;
  /** Canonical CIDR. */
  readonly cidr: string;
  readonly family: IpVersion;
  readonly blockSize: number;
  readonly ipipMode: EncapMode;
  readonly vxlanMode: EncapMode;
  readonly natOutgoing: boolean;
  readonly disabled: boolean;
  /** Which nodes use the pool (and so need its tunnel device); Calico selector syntax. */
  readonly nodeSelector: Selector;
}

/** An IPAM block and the node it is affine to. */
export interface BlockAffinity {
  readonly name: string;
  readonly node: string;
  /** Canonical CIDR. */
  readonly cidr: string;
}

/** The FelixConfiguration fields felix-ts reads (undefined: not set at this level); table in config/fields.ts. */
export type FelixNetworkConfig = FelixConfig;

/** What the converter emits for the networking kinds. */
export type NetworkUpdate =
  | { readonly kind: "pool"; readonly name: string; readonly pool: IpPool | null }
  | { readonly kind: "affinity"; readonly name: string; readonly affinity: BlockAffinity | null }
  | { readonly kind: "felix-config"; readonly name: string; readonly config: FelixNetworkConfig | null };
