// What a datastore emits: one update per object, value null meaning deleted.

import type { KubeObject } from "./k8s.js";

/** The kinds the graph consumes; anything else is ignored by the datastores. */
export const KINDS = [
  "Namespace",
  "Pod",
  "ServiceAccount",
  "NetworkPolicy",
  "Node",
  "Service",
  "EndpointSlice",
  // Calico's networking resources (IP pools and routing modes).
  "IPPool",
  "BlockAffinity",
  "FelixConfiguration",
  // Calico's policy model (projectcalico.org/v3; crd.projectcalico.org/v1 in Kubernetes).
  // CalicoNetworkPolicy is Calico's namespaced NetworkPolicy: a name of our own, so it is never confused with
  // networking.k8s.io's (manifests.ts maps the apiVersion to it).
  "Tier",
  "CalicoNetworkPolicy",
  "GlobalNetworkPolicy",
  "StagedNetworkPolicy",
  "StagedGlobalNetworkPolicy",
  "StagedKubernetesNetworkPolicy",
  // policy.networking.k8s.io/v1alpha2: the cluster admin's tiers (Admin, Baseline).
  "ClusterNetworkPolicy",
  // Calico's host protection and network sets.
  "HostEndpoint",
  "NetworkSet",
  "GlobalNetworkSet",
] as const;

export type Kind = (typeof KINDS)[number];

/** Kinds without a namespace (their objects' namespace is ""). */
export const CLUSTER_SCOPED_KINDS: ReadonlySet<Kind> = new Set<Kind>([
  "Namespace",
  "Node",
  "IPPool",
  "BlockAffinity",
  "FelixConfiguration",
  "Tier",
  "GlobalNetworkPolicy",
  "StagedGlobalNetworkPolicy",
  "ClusterNetworkPolicy",
  "HostEndpoint",
  "GlobalNetworkSet",
]);

export function isKind(kind: unknown): kind is Kind {
  return typeof kind === "string" && (KINDS as readonly string[]).includes(kind);
}

/** Where an object came from, for error messages (file datastore). */
export interface Source {
  readonly file: string;
  readonly line?: number;
}

export interface ResourceUpdate {
  readonly kind: Kind;
  /** Empty for cluster-scoped kinds. */
  readonly namespace: string;
  readonly name: string;
  /** The object, or null when it was deleted. */
  readonly value: KubeObject | null;
  readonly source?: Source;
}

/** A stable key for a resource: `Kind/namespace/name`. */
export function resourceKey(u: { kind: Kind; namespace: string; name: string }): string {
  return `${u.kind}/${u.namespace}/${u.name}`;
}

/** A problem with one input object; it is reported and the object skipped. */
export interface ResourceProblem {
  readonly key: string;
  readonly message: string;
  readonly source?: Source;
  /** For pods: the node they are scheduled on, so only that node's agent reports them. */
  readonly node?: string;
}
