// policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy (kubernetes-sigs/
// network-policy-api, apis/v1alpha2): the fields the agent reads, loosely
// typed because manifests come from users; conversion validates each one as
// the CRD's schema and CEL rules would.

import type { KubeObject } from "./k8s.js";

export interface ClusterNetworkPolicySpec {
  tier?: unknown;
  priority?: unknown;
  subject?: unknown;
  ingress?: unknown;
  egress?: unknown;
}

export interface ClusterNetworkPolicy extends KubeObject {
  spec?: ClusterNetworkPolicySpec;
}
