// Which endpoints receive which traffic, as kube-proxy's CategorizeEndpoints
// decides it:
//   - cluster traffic goes to the ready endpoints topology-aware routing keeps
//     (topology.ts); when none is ready, to the serving-and-terminating ones
//     (graceful-termination fallback, KEP-1669);
//   - internalTrafficPolicy: Local restricts cluster traffic to local endpoints
//     (same fallback, among the local ones);
//   - externalTrafficPolicy: Local sends external traffic only to local
//     endpoints (same fallback); otherwise external traffic uses the cluster set.
// An empty `cluster` set means REJECT for cluster traffic; an empty `local`
// set under externalTrafficPolicy: Local means DROP for external traffic.

import type { ServiceEndpoint, ServicePort } from "./model.js";

export interface CategorizedEndpoints {
  /** Endpoints for traffic to the ClusterIP (after internalTrafficPolicy). */
  readonly cluster: readonly ServiceEndpoint[];
  /** Endpoints for external traffic (NodePort, ExternalIPs, LB IPs) after externalTrafficPolicy. */
  readonly external: readonly ServiceEndpoint[];
  /** Local usable endpoints (what the health-check node port reports). */
  readonly local: readonly ServiceEndpoint[];
  /** Every endpoint any of the above uses. */
  readonly all: readonly ServiceEndpoint[];
}

/** Ready endpoints; if none, the serving-and-terminating ones. */
export function usable(eps: readonly ServiceEndpoint[]): ServiceEndpoint[] {
  const ready = eps.filter((e) => e.ready);
  if (ready.length > 0) return ready;
  return eps.filter((e) => e.serving && e.terminating);
}

/** Cluster traffic's endpoints: ready ones topology keeps; if none is ready, the serving-and-terminating ones. */
export function usableForCluster(eps: readonly ServiceEndpoint[]): ServiceEndpoint[] {
  const ready = eps.filter((e) => e.ready && !e.topologyExcluded);
  if (ready.length > 0) return ready;
  return eps.filter((e) => e.serving && e.terminating);
}

export function categorizeEndpoints(sp: ServicePort): CategorizedEndpoints {
  const local = usable(sp.endpoints.filter((e) => e.local));
  const cluster = sp.internalPolicyLocal ? local : usableForCluster(sp.endpoints);
  const external = sp.externalPolicyLocal ? local : usableForCluster(sp.endpoints);
  const seen = new Set<ServiceEndpoint>([...cluster, ...external]);
  const all = sp.endpoints.filter((e) => seen.has(e));
  return { cluster, external, local, all };
}

/** kube-proxy's per-port decisions (syncProxyRules), the same in both rule-based proxy modes. */
export interface PortTrafficPlan {
  /** Cluster traffic's endpoints (topology, terminating fallback). */
  readonly clusterEps: readonly ServiceEndpoint[];
  /** This node's usable endpoints. */
  readonly localEps: readonly ServiceEndpoint[];
  /** Some usable endpoint anywhere: else REJECT. */
  readonly hasEndpoints: boolean;
  /** A node port, external IPs or LB IPs. */
  readonly externallyAccessible: boolean;
  /** The cluster-policy chain (SVC / service-) exists. */
  readonly usesClusterChain: boolean;
  /** The local-policy chain (SVL / local-) exists. */
  readonly usesLocalChain: boolean;
  /** Cluster IP traffic has endpoints (iTP Local: local ones), else DROP. */
  readonly hasInternal: boolean;
  /** External traffic has endpoints (eTP Local: local ones), else DROP. */
  readonly hasExternal: boolean;
  /** The external chain (EXT / external-) exists: the eTP Local short-circuits need it even without local endpoints. */
  readonly usesExtChain: boolean;
}

export function portTrafficPlan(sp: ServicePort): PortTrafficPlan {
  const clusterEps = usableForCluster(sp.endpoints);
  const localEps = usable(sp.endpoints.filter((e) => e.local));
  const hasEndpoints = clusterEps.length > 0;
  const externallyAccessible = sp.nodePort !== undefined || sp.externalIPs.length > 0 || sp.loadBalancerIPs.length > 0;
  return {
    clusterEps,
    localEps,
    hasEndpoints,
    externallyAccessible,
    usesClusterChain: hasEndpoints && (!sp.internalPolicyLocal || externallyAccessible),
    usesLocalChain: localEps.length > 0 && (sp.internalPolicyLocal || sp.externalPolicyLocal),
    hasInternal: hasEndpoints && (!sp.internalPolicyLocal || localEps.length > 0),
    hasExternal: hasEndpoints && (!sp.externalPolicyLocal || localEps.length > 0),
    usesExtChain: hasEndpoints && externallyAccessible,
  };
}
