// The subset of Kubernetes API objects the agent reads. Fields are optional
// because manifests come from users: conversion validates what it uses.

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  resourceVersion?: string;
  deletionTimestamp?: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface LabelSelectorRequirement {
  key?: string;
  operator?: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface Namespace extends KubeObject {}

export interface ServiceAccount extends KubeObject {}

export interface ContainerPort {
  name?: string;
  containerPort?: number;
  protocol?: string;
}

export interface Pod extends KubeObject {
  spec?: {
    nodeName?: string;
    hostNetwork?: boolean;
    serviceAccountName?: string;
    serviceAccount?: string;
    containers?: { name?: string; ports?: ContainerPort[] }[];
    initContainers?: { name?: string; restartPolicy?: string; ports?: ContainerPort[] }[];
  };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip?: string }[];
  };
}

export interface NetworkPolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr?: string; except?: string[] };
}

export interface NetworkPolicy extends KubeObject {
  spec?: {
    podSelector?: LabelSelector;
    policyTypes?: string[];
    ingress?: { from?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
    egress?: { to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
  };
}

export interface Node extends KubeObject {
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: { type?: string; address?: string }[] };
}

export interface Service extends KubeObject {
  spec?: Record<string, unknown>;
}

export interface EndpointSlice extends KubeObject {
  addressType?: string;
  endpoints?: unknown[];
  ports?: unknown[];
}

/** Calico's IPPool (projectcalico.org/v3 in manifests, crd.projectcalico.org/v1 in the cluster). */
export interface IPPool extends KubeObject {
  spec?: {
    cidr?: string;
    blockSize?: number;
    ipipMode?: string;
    vxlanMode?: string;
    natOutgoing?: boolean;
    disabled?: boolean;
    nodeSelector?: string;
  };
}

/** Calico IPAM's block affinity: `node` owns the block `cidr`. */
export interface BlockAffinity extends KubeObject {
  spec?: { node?: string; cidr?: string; state?: string; deleted?: string | boolean };
}

/** Calico's FelixConfiguration (`default`, `node.<name>`): only the fields felix-ts reads. */
export interface FelixConfiguration extends KubeObject {
  spec?: Record<string, unknown>;
}
