// The graph's output: one immutable snapshot of what this node's kernel should
// hold. Snapshots are immer-produced: a part that did not change keeps its
// identity from the previous snapshot, so consumers find changes by reference.

import type { IpSetState } from "../model/ipset.js";
import type { IpSets } from "../model/ipset-shards.js";
import type { NftObjectState } from "../model/nft-objects.js";
import type { FamilyTables } from "../model/tables.js";

export type { IpSetState };

import type { ResourceProblem } from "../model/resource.js";
import type { Route } from "../routes/route.js";
import type { RuleSettings } from "./config/settings.js";
import type { HostEndpointState } from "./host-endpoints.js";
import type { IpVersion } from "./model.js";
import type { NetworkState } from "./network/state.js";
import type { IpvsDesired } from "./services/ipvs-desired.js";
import type { ServicePorts } from "./services/port-shards.js";

export interface EndpointState {
  /** `<namespace>/<pod>` */
  readonly key: string;
  readonly namespace: string;
  readonly pod: string;
  readonly node: string;
  readonly iface: string;
  readonly ipv4Nets: readonly string[];
  readonly ipv6Nets: readonly string[];
  readonly profiles: readonly string[];
  /** Policy keys (`<tier>/<namespace>/<name>`) in evaluation order. */
  readonly ingressPolicies: readonly string[];
  readonly egressPolicies: readonly string[];
  /** The same policies by tier, tiers in evaluation order, each with what happens at its end. */
  readonly ingressTiers: readonly EndpointTier[];
  readonly egressTiers: readonly EndpointTier[];
}

export interface EndpointTier {
  readonly name: string;
  readonly defaultAction: "Deny" | "Pass";
  /** False when no Tier of this name exists (it sorts last and denies at its end). */
  readonly exists: boolean;
  readonly policies: readonly string[];
}

export interface DesiredState {
  readonly nodeName: string;
  readonly iptables: Readonly<Record<"ipv4" | "ipv6", FamilyTables>>;
  /** Keyed by kernel name, in shards (model/ipset-shards.ts: ipSetOf, ipSetList, changedIpSets). */
  readonly ipsets: IpSets;
  /** Local workload endpoints, keyed by `<namespace>/<pod>`. */
  readonly endpoints: Readonly<Record<string, EndpointState>>;
  /** Keyed by destination CIDR. */
  readonly routes: Readonly<Record<string, Route>>;
  /** /proc/sys-relative path → value. */
  readonly sysctls: Readonly<Record<string, string>>;
  /** Service ports this node proxies (any FELIX_PROXYMODE but off), by servicePortId, sharded (services/port-shards.ts). */
  readonly services: ServicePorts;
  /** Input objects that could not be used, keyed by resource key. */
  readonly problems: Readonly<Record<string, ResourceProblem>>;
  /** nftables proxy mode only (FELIX_PROXYMODE=nftables): kube-proxy's verdict maps and affinity sets, keyed nftObjectKey. */
  readonly nftObjects?: Readonly<Record<string, NftObjectState>>;
  /** IPVS proxy mode only (FELIX_PROXYMODE=ipvs): virtual services and the dummy interface's addresses. */
  readonly ipvs?: IpvsDesired;
  /** IP pools: tunnel devices, their neighbour/FDB entries, MTU settings. */
  readonly network: NetworkState;
  /** The FelixConfiguration/env settings in force, and the set fields felix-ts ignores. */
  readonly config?: ConfigState;
  /** This node's host endpoints in force, keyed `<name>@<interface>` (absent: none). */
  readonly hostEndpoints?: Readonly<Record<string, HostEndpointState>>;
}

export interface ConfigState {
  readonly settings: RuleSettings;
  /** Set fields felix-ts does not implement, as `field=value` (reported in logs and /readiness). */
  readonly ignored: readonly string[];
}

export const familyKey = (v: IpVersion) => (v === 4 ? "ipv4" : "ipv6") as "ipv4" | "ipv6";
