// The bound on one Service's kernel footprint (FELIX_SERVICEMAXENDPOINTPORTS,
// felix-ts's own). A Service is one object a tenant writes, but its rules
// multiply as ports × endpoints (a chain and its rules per pair in the
// iptables proxy mode, a real server per pair in IPVS): one Service of 10,000
// ports × 3 endpoints already renders 40,000 chains (20 MB of restore text,
// 6 s of graph and rendering); × 100 endpoints it would be a million.
// kube-proxy renders it all. Over the bound the service is left out whole (no
// frontend, so nothing half-programmed) and reported with its refusals.

import type { ServicePort } from "./model.js";

/** Default FELIX_SERVICEMAXENDPOINTPORTS. */
export const DEFAULT_MAX_SERVICE_ENDPOINT_PORTS = 100_000;

/** Why the service's ports are too many to program (undefined: they fit). */
export function oversize(id: string, ports: readonly ServicePort[], max: number): string | undefined {
  const pairs = ports.reduce((n, p) => n + Math.max(1, p.endpoints.length), 0);
  if (pairs <= max) return undefined;
  return `service ${id}: ${pairs} (port, endpoint) pairs, more than FELIX_SERVICEMAXENDPOINTPORTS (${max}): not programmed`;
}
