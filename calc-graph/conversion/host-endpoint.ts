// projectcalico.org/v3 HostEndpoint → HostEndpoint (libcalico-go's update
// processor): cluster-scoped, keyed `hep:<name>`; expectedIPs become host
// CIDRs; profiles are inherited by name (their labels, then their rules);
// named ports feed named-port IP sets like a pod's.

import type { HostEndpoint, NamedPort, Protocol } from "../model.js";
import { parseIp } from "./cidr.js";
import { isReservedLabel } from "./labels.js";

export const HOST_ENDPOINT_KEY_PREFIX = "hep:";
/** The all-interfaces host endpoint. */
export const ALL_INTERFACES = "*";

interface HostEndpointObject {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: {
    node?: string;
    interfaceName?: string;
    expectedIPs?: string[];
    profiles?: string[];
    ports?: { name?: string; protocol?: string; port?: number }[];
  };
}

export const hostEndpointKey = (name: string) => `${HOST_ENDPOINT_KEY_PREFIX}${name}`;

/** Input already validated (validate-hosts.ts). */
export function hostEndpointToModel(obj: unknown): HostEndpoint {
  const o = obj as HostEndpointObject;
  const name = o.metadata?.name ?? "";
  const spec = o.spec ?? {};
  const v4 = new Set<string>();
  const v6 = new Set<string>();
  for (const raw of spec.expectedIPs ?? []) {
    const ip = parseIp(String(raw));
    if (ip.version === 4) v4.add(`${ip.text}/32`);
    else v6.add(`${ip.text}/128`);
  }
  // Calico's own labels are never a host endpoint's: with them it could pass for a pod in a namespace.
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.metadata?.labels ?? {})) if (!isReservedLabel(k)) labels[k] = String(v);
  const ports: NamedPort[] = (spec.ports ?? []).map((p) => ({
    name: String(p.name),
    protocol: String(p.protocol ?? "TCP").toLowerCase() as Protocol,
    port: Number(p.port),
  }));
  return {
    key: hostEndpointKey(name),
    name,
    node: spec.node ?? "",
    interfaceName: spec.interfaceName ?? "",
    ipv4Nets: [...v4].sort(),
    ipv6Nets: [...v6].sort(),
    labels,
    profileIds: [...(spec.profiles ?? [])],
    ports,
  };
}
