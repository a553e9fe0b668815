// The service health checks this node answers, as kube-proxy's
// ServiceHealthServer gets them (pkg/proxy/healthcheck/service_health.go):
// one per Service with a healthCheckNodePort (LoadBalancer with
// externalTrafficPolicy: Local), keyed by `<namespace>/<name>`, with the
// number of this node's ready endpoints (LocalReadyEndpoints: local and ready,
// each address counted once over the service's ports and families;
// terminating ones do not count, so a load balancer drains the node).

import { type ServicePorts, servicePortList } from "./port-shards.js";

export interface ServiceHealthCheck {
  readonly namespace: string;
  readonly name: string;
  readonly port: number;
  readonly localEndpoints: number;
}

export function serviceHealthChecks(services: ServicePorts): Map<string, ServiceHealthCheck> {
  const ports = new Map<string, number>();
  const local = new Map<string, Set<string>>();
  for (const sp of servicePortList(services)) {
    if (sp.healthCheckNodePort === undefined) continue;
    const id = `${sp.namespace}/${sp.service}`;
    ports.set(id, sp.healthCheckNodePort);
    const ips = local.get(id) ?? new Set<string>();
    local.set(id, ips);
    for (const e of sp.endpoints) if (e.local && e.ready) ips.add(e.ip);
  }
  const out = new Map<string, ServiceHealthCheck>();
  for (const id of [...ports.keys()].sort()) {
    const [namespace, name] = id.split("/");
    out.set(id, { namespace, name, port: ports.get(id)!, localEndpoints: local.get(id)!.size });
  }
  return out;
}
