// Hand-made ServicePorts for the IPVS tests (the services index is built
// elsewhere). Inert module.

import type { ServiceEndpoint, ServicePort } from "../../../calc-graph/services/model.js";
import { servicePortKey } from "../../../calc-graph/services/model.js";

export function ep(ip: string, o: Partial<ServiceEndpoint> = {}): ServiceEndpoint {
  return { ip, port: 8080, local: false, ready: true, serving: true, terminating: false, ...o };
}

/** A terminating endpoint: not ready, still serving unless told. */
export function terminating(ip: string, o: Partial<ServiceEndpoint> = {}): ServiceEndpoint {
  return ep(ip, { ready: false, serving: true, terminating: true, ...o });
}

export function sp(o: Partial<ServicePort> & { namespace?: string; service?: string } = {}): ServicePort {
  const namespace = o.namespace ?? "default";
  const service = o.service ?? "web";
  const portName = o.portName ?? "http";
  const protocol = o.protocol ?? "tcp";
  return {
    key: servicePortKey(namespace, service, portName, protocol),
    namespace,
    service,
    portName,
    protocol,
    family: 4,
    clusterIP: "10.96.0.10",
    port: 80,
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    externalPolicyLocal: false,
    internalPolicyLocal: false,
    endpoints: [],
    ...o,
  };
}
