// Validation of HostEndpoint and (Global)NetworkSet specs as libcalico-go's
// validator does it, before conversion. Interface names reach chain names and
// `-i`/`-o` matches: only Linux interface-name characters pass (no blanks, no
// newlines), at most 15 of them, or `*` for every interface. Whether a name
// claims a workload interface depends on the interface prefixes in force and
// is checked where the chains are rendered (hosts/host-endpoints.ts).

import { parseCidr, parseIp } from "./cidr.js";
import { dns1123Subdomain, portName } from "./validate.js";

/** libcalico-go's interface-name rule; `*` is the all-interfaces host endpoint. */
export const INTERFACE_NAME = /^[a-zA-Z0-9_.-]{1,15}$/;
/** ipset's default maxelem: a larger set would fail the whole restore (field report #4069). */
export const MAX_NETS = 1_048_576;
const PROTOCOLS = ["TCP", "UDP", "SCTP"];

type Problem = string | undefined;
const show = (v: unknown) => JSON.stringify(v);

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function isList(v: unknown, what: string): Problem {
  return v === undefined || v === null || Array.isArray(v) ? undefined : `${what} must be a list`;
}

export function hostEndpointSpec(s: Record<string, unknown>): Problem {
  const iface = s.interfaceName;
  if (iface !== undefined && iface !== "" && iface !== "*") {
    if (typeof iface !== "string" || !INTERFACE_NAME.test(iface)) {
      return `spec.interfaceName ${show(iface)} is not an interface name (letters, digits, '_', '.', '-'; at most 15) or "*"`;
    }
  }
  const bad = isList(s.expectedIPs, "spec.expectedIPs") ?? isList(s.profiles, "spec.profiles");
  if (bad) return bad;
  const ips = list(s.expectedIPs);
  for (let i = 0; i < ips.length; i++) {
    try {
      parseIp(String(ips[i]));
    } catch {
      return `spec.expectedIPs[${i}] ${show(ips[i])} is not an IP address`;
    }
  }
  if ((iface === undefined || iface === "") && ips.length === 0) {
    return "spec: a host endpoint needs interfaceName or expectedIPs";
  }
  if (s.node !== undefined && s.node !== "") {
    const p = dns1123Subdomain(s.node, "spec.node");
    if (p) return p;
  }
  const profiles = list(s.profiles);
  for (let i = 0; i < profiles.length; i++) {
    const p = dns1123Subdomain(profiles[i], `spec.profiles[${i}]`);
    if (p) return p;
  }
  const ports = list(s.ports);
  for (let i = 0; i < ports.length; i++) {
    const p = (ports[i] ?? {}) as { name?: unknown; protocol?: unknown; port?: unknown };
    const w = `spec.ports[${i}]`;
    const q = portName(p.name, w);
    if (q) return q;
    if (!PROTOCOLS.includes(String(p.protocol ?? "TCP").toUpperCase()))
      return `${w}: unknown protocol ${show(p.protocol)}`;
    if (!Number.isInteger(p.port) || (p.port as number) < 1 || (p.port as number) > 65535) {
      return `${w}: port ${show(p.port)} is not in 1..65535`;
    }
  }
  return undefined;
}

export function networkSetSpec(s: Record<string, unknown>): Problem {
  const bad = isList(s.nets, "spec.nets");
  if (bad) return bad;
  const nets = list(s.nets);
  if (nets.length > MAX_NETS) return `spec.nets has ${nets.length} entries; at most ${MAX_NETS} fit an IP set`;
  for (let i = 0; i < nets.length; i++) {
    try {
      const t = String(nets[i]);
      if (t.includes("/")) parseCidr(t);
      else parseIp(t);
    } catch {
      return `spec.nets[${i}] ${show(nets[i])} is not a CIDR or IP address`;
    }
  }
  return undefined;
}
