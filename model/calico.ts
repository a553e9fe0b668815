// The subset of Calico's projectcalico.org/v3 policy objects the agent reads
// (libcalico-go lib/apis/v3; the crd.projectcalico.org/v1 CRDs carry the same
// spec). Fields are optional and loosely typed: manifests come from users,
// and conversion validates every field it uses.

import type { KubeObject, NetworkPolicy } from "./k8s.js";

export interface CalicoTier extends KubeObject {
  spec?: { order?: unknown; defaultAction?: unknown };
}

export interface CalicoEntityRule {
  nets?: unknown;
  notNets?: unknown;
  selector?: unknown;
  notSelector?: unknown;
  namespaceSelector?: unknown;
  ports?: unknown;
  notPorts?: unknown;
  serviceAccounts?: { names?: unknown; selector?: unknown } | null;
  services?: unknown;
}

export interface CalicoRule {
  action?: unknown;
  ipVersion?: unknown;
  protocol?: unknown;
  notProtocol?: unknown;
  icmp?: { type?: unknown; code?: unknown } | null;
  notICMP?: { type?: unknown; code?: unknown } | null;
  source?: CalicoEntityRule | null;
  destination?: CalicoEntityRule | null;
  http?: unknown;
  metadata?: unknown;
}

export interface CalicoPolicySpec {
  tier?: unknown;
  order?: unknown;
  selector?: unknown;
  serviceAccountSelector?: unknown;
  types?: unknown;
  ingress?: CalicoRule[];
  egress?: CalicoRule[];
  /** GlobalNetworkPolicy only. */
  namespaceSelector?: unknown;
  applyOnForward?: unknown;
  preDNAT?: unknown;
  doNotTrack?: unknown;
  /** Staged kinds: `Set` (default) or `Delete`. */
  stagedAction?: unknown;
}

/** NetworkPolicy (namespaced), GlobalNetworkPolicy and their staged kinds. */
export interface CalicoPolicy extends KubeObject {
  spec?: CalicoPolicySpec;
}

/** StagedKubernetesNetworkPolicy: a Kubernetes NetworkPolicy spec plus stagedAction. */
export interface StagedKubernetesNetworkPolicy extends KubeObject {
  spec?: NetworkPolicy["spec"] & { stagedAction?: unknown };
}
