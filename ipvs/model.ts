// The IPVS table model: virtual services (protocol, address, port) and their
// real servers, as the kernel's IPVS holds them and `ipvsadm` prints them.
// Only address-based services (no fwmark services): that is all a service
// proxy needs, and what kube-proxy programs.

import ipaddr from "ipaddr.js";

export type IpvsProtocol = "tcp" | "udp" | "sctp";

/** ipvsadm's forwarding methods; a service proxy only uses masq (NAT). */
export type ForwardMethod = "masq" | "local" | "tunnel" | "route";

/** The schedulers of the kernel's ip_vs_* modules (ipvsadm -s). */
export const SCHEDULERS = [
  "rr",
  "wrr",
  "lc",
  "wlc",
  "lblc",
  "lblcr",
  "dh",
  "sh",
  "sed",
  "nq",
  "fo",
  "ovf",
  "mh",
  "twos",
];

export interface VirtualService {
  readonly protocol: IpvsProtocol;
  /** Canonical IP text. */
  readonly address: string;
  readonly port: number;
  readonly scheduler: string;
  /** Persistence (ipvsadm -p): set for sessionAffinity ClientIP, in seconds. */
  readonly persistenceTimeout?: number;
  /**
   * Options we do not program but read back (persistence netmask `-M`, `pe`,
   * `ops`, scheduler flags `-b`), kept verbatim so a foreign service survives a
   * round trip and a changed one of ours shows up as a difference.
   */
  readonly extra?: string;
}

export interface RealServer {
  /** Canonical IP text. */
  readonly address: string;
  readonly port: number;
  /** 0 = quiescent: no new connections (draining). */
  readonly weight: number;
  readonly forward: ForwardMethod;
}

/** A real server as read from the kernel, with its connection counters when known. */
export interface KernelRealServer extends RealServer {
  readonly activeConns?: number;
  readonly inactiveConns?: number;
}

export interface IpvsService<R extends RealServer = RealServer> {
  readonly service: VirtualService;
  /** Sorted by address then port (realServerKey order). */
  readonly realServers: readonly R[];
}

export type IpvsTable<R extends RealServer = RealServer> = ReadonlyMap<string, IpvsService<R>>;

/** `10.96.0.1:443`, `[fd00::1]:80`: ipvsadm's numeric host:port. */
export function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Identity of a virtual service: `tcp:10.96.0.1:443`, `udp:[fd00::a]:53`. */
export function serviceKey(s: Pick<VirtualService, "protocol" | "address" | "port">): string {
  return `${s.protocol}:${hostPort(s.address, s.port)}`;
}

/** Identity of a real server within its virtual service. */
export function realServerKey(r: Pick<RealServer, "address" | "port">): string {
  return hostPort(r.address, r.port);
}

/** Canonical IP text (ipaddr.js's normal form: `fd00::1`, `10.0.0.1`). */
export function canonicalIp(ip: string): string {
  return ipaddr.process(ip).toString();
}

export function ipFamily(ip: string): 4 | 6 {
  return ip.includes(":") ? 6 : 4;
}

const PROTO_ORDER: Record<IpvsProtocol, number> = { tcp: 6, udp: 17, sctp: 132 };

// Sorting a table of thousands of services asks for the same addresses'
// keys again on every change: remember them (bounded).
const sortKeys = new Map<string, string>();

/** A string that sorts as the address does numerically, IPv4 before IPv6. */
export function ipSortKey(ip: string): string {
  let k = sortKeys.get(ip);
  if (k === undefined) {
    if (sortKeys.size >= 200_000) sortKeys.clear();
    k = computeSortKey(ip);
    sortKeys.set(ip, k);
  }
  return k;
}

function computeSortKey(ip: string): string {
  if (!ip.includes(":")) {
    const p = ip.split(".");
    if (p.length === 4) return `4${p.map((x) => Number(x).toString(16).padStart(2, "0")).join("")}`;
  }
  const bytes = ipaddr.parse(ip).toByteArray();
  return `${bytes.length === 4 ? 4 : 6}${bytes.map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Address order as ipvsadm sorts: by family, then numerically. */
export function compareIps(a: string, b: string): number {
  return cmp(ipSortKey(a), ipSortKey(b));
}

/** ipvsadm's listing order: family, protocol number, address, port. */
export function compareServices(a: VirtualService, b: VirtualService): number {
  return (
    ipFamily(a.address) - ipFamily(b.address) ||
    PROTO_ORDER[a.protocol] - PROTO_ORDER[b.protocol] ||
    compareIps(a.address, b.address) ||
    a.port - b.port
  );
}

export function compareRealServers(a: RealServer, b: RealServer): number {
  return compareIps(a.address, b.address) || a.port - b.port;
}

/** Sorts by a key computed once per element (sorting large tables by compareIps would parse each address log n times). */
function sortedBy<T>(xs: readonly T[], key: (x: T) => string): T[] {
  return xs
    .map((x) => [key(x), x] as const)
    .sort((a, b) => cmp(a[0], b[0]))
    .map(([, x]) => x);
}

const portKey = (p: number) => p.toString(16).padStart(4, "0");

export function sortRealServers<R extends RealServer>(rs: readonly R[]): R[] {
  return sortedBy(rs, (r) => ipSortKey(r.address) + portKey(r.port));
}

/** ipvsadm's listing order, as a sort: family, protocol number, address, port. */
export function sortServices<E extends { readonly service: VirtualService }>(es: readonly E[]): E[] {
  return sortedBy(es, (e) => {
    const a = ipSortKey(e.service.address);
    return a[0] + String(PROTO_ORDER[e.service.protocol]).padStart(3, "0") + a + portKey(e.service.port);
  });
}

/** Builds a table from entries, sorting real servers; later duplicates replace earlier ones. */
export function ipvsTable<R extends RealServer>(entries: Iterable<IpvsService<R>>): Map<string, IpvsService<R>> {
  const m = new Map<string, IpvsService<R>>();
  for (const e of entries) {
    m.set(serviceKey(e.service), { service: e.service, realServers: sortRealServers(e.realServers) });
  }
  return m;
}

/** The same service settings (what `-E` would change). */
export function sameServiceSettings(a: VirtualService, b: VirtualService): boolean {
  return (
    a.scheduler === b.scheduler && (a.persistenceTimeout ?? 0) === (b.persistenceTimeout ?? 0) && a.extra === b.extra
  );
}
