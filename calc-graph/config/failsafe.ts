// Failsafe ports (FailsafeInboundHostPorts / FailsafeOutboundHostPorts):
// traffic a host endpoint's policy can never block, so a host policy cannot
// cut the node off from SSH, DHCP, DNS, BGP, etcd, Typha or the API server.
// Felix's defaults; `none` (env) or an empty list (FelixConfiguration) turns
// them off. Env form: `[<proto>:][<net>:]<port>,…` (`tcp:22`,
// `udp:10.0.0.0/8:53`, `tcp:[fd00::/64]:22`); FelixConfiguration form:
// `[{protocol: TCP, port: 22, net: 10.0.0.0/8}]`.

import { parseCidr, parseIp } from "../conversion/cidr.js";
import type { Parser } from "./parse.js";

export interface ProtoPort {
  readonly protocol: "tcp" | "udp" | "sctp";
  readonly port: number;
  /** Only this peer network (source for inbound, destination for outbound); canonical CIDR. */
  readonly net?: string;
}

const pp = (protocol: ProtoPort["protocol"], port: number): ProtoPort => ({ protocol, port });

export const DEFAULT_FAILSAFE_INBOUND: readonly ProtoPort[] = [
  pp("tcp", 22), // SSH
  pp("udp", 68), // DHCP client
  pp("tcp", 179), // BGP
  pp("tcp", 2379), // etcd
  pp("tcp", 2380),
  pp("tcp", 5473), // Typha
  pp("tcp", 6443), // API server
  pp("tcp", 6666),
  pp("tcp", 6667),
];

export const DEFAULT_FAILSAFE_OUTBOUND: readonly ProtoPort[] = [
  pp("udp", 53), // DNS
  pp("udp", 67), // DHCP server
  pp("tcp", 179),
  pp("tcp", 2379),
  pp("tcp", 2380),
  pp("tcp", 5473),
  pp("tcp", 6443),
  pp("tcp", 6666),
  pp("tcp", 6667),
];

const PROTOCOLS = ["tcp", "udp", "sctp"] as const;

function protocolOf(field: string, v: unknown): ProtoPort["protocol"] {
  const p = String(v ?? "tcp").toLowerCase();
  if (!(PROTOCOLS as readonly string[]).includes(p)) throw new Error(`${field}: unknown protocol ${JSON.stringify(v)}`);
  return p as ProtoPort["protocol"];
}

function portOf(field: string, v: unknown): number {
  const n = typeof v === "number" ? v : /^\d{1,5}$/.test(String(v).trim()) ? Number(String(v).trim()) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`${field}: port ${JSON.stringify(v)} is not in 0..65535`);
  return n;
}

function netOf(field: string, v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const t = String(v)
    .trim()
    .replace(/^\[(.*)\]$/, "$1");
  try {
    if (t.includes("/")) return parseCidr(t).text;
    const ip = parseIp(t);
    return `${ip.text}/${ip.version === 4 ? 32 : 128}`;
  } catch {
    throw new Error(`${field}: net ${JSON.stringify(v)} is not a CIDR`);
  }
}

/** One env entry: `port`, `proto:port`, `proto:net:port` (an IPv6 net in brackets or bare). */
function entryOf(field: string, text: string): ProtoPort {
  const first = text.indexOf(":");
  const last = text.lastIndexOf(":");
  if (first < 0) return { protocol: "tcp", port: portOf(field, text) };
  const protocol = protocolOf(field, text.slice(0, first));
  const port = portOf(field, text.slice(last + 1));
  if (first === last) return { protocol, port };
  const net = netOf(field, text.slice(first + 1, last));
  return net ? { protocol, port, net } : { protocol, port };
}

/** Felix's `port-list`: an env string, or a FelixConfiguration list of {protocol, port, net}. */
export const protoPortList: Parser<ProtoPort[]> = (field, v) => {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) {
    return v.map((e, i) => {
      const w = `${field}[${i}]`;
      if (typeof e !== "object" || e === null) throw new Error(`${w} must be {protocol, port, net}`);
      const o = e as { protocol?: unknown; port?: unknown; net?: unknown };
      const net = netOf(w, o.net);
      const out = { protocol: protocolOf(w, o.protocol), port: portOf(w, o.port) };
      return net ? { ...out, net } : out;
    });
  }
  const s = String(v).trim();
  if (s === "") return undefined;
  if (s.toLowerCase() === "none") return [];
  return s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "")
    .map((x) => entryOf(field, x));
};
