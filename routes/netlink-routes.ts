// Kernel access for the route reconciler: a small interface over rtnetlink and
// a real implementation on the `netlink` package (0.3.0); the in-memory fake
// that follows the kernel's rules for unit tests is fake-netlink-routes.ts.
//
// Namespace: a netlink socket belongs to the network namespace of the thread
// that creates it. The native addon creates its socket on the main thread, so
// `KernelNetlinkRoutes` works on the namespace the current process runs in
// (e.g. `ip netns exec <ns> node ...`). Node cannot setns(2) by itself, so
// working on another namespace means running a child process inside it.

import { readlinkSync } from "node:fs";
import ipaddr from "ipaddr.js";
import { createRtNetlink, FlagsNew, type RtNetlinkSocket, rt } from "netlink";
import { DEVICE_ROUTE_PROTOCOL, ROUTE_PROTOCOL, type Route } from "./route.js";

/** The main routing table (RT_TABLE_MAIN). */
export const MAIN_TABLE = 254;

/** The part of a desired Route that the kernel sees. */
export type RouteSpec = Pick<Route, "dst" | "type" | "dev" | "gateway" | "scope" | "onlink">;

/** RTNH_F_ONLINK, carried in rtm_flags: the gateway is on the device whatever its address. */
const RTNH_F_ONLINK = 4;

/** One route as read back from the kernel. */
export interface KernelRoute {
  /** Canonical CIDR (`10.65.0.5/32`, `fd00::/64`), same form as the calc graph's. */
  readonly dst: string;
  readonly family: 4 | 6;
  /** Lower-case kernel type name: `unicast`, `blackhole`, `unreachable`, ... */
  readonly type: string;
  /** Lower-case scope name: `universe`, `link`, `host`, ... (IPv6 routes always say `universe`). */
  readonly scope: string;
  readonly dev?: string;
  readonly ifindex?: number;
  /** Canonical gateway address. */
  readonly gateway?: string;
  readonly protocol: number;
  readonly table: number;
  readonly priority?: number;
  /** `onlink` (tunnel routes). */
  readonly onlink?: boolean;
}

export interface LinkInfo {
  readonly name: string;
  readonly index: number;
  /** Administratively up (IFF_UP); the kernel refuses routes on a down device (ENETDOWN). */
  readonly up: boolean;
}

export interface NetlinkRoutes {
  /** Our routes: main table, protocol ROUTE_PROTOCOL, IPv4 and IPv6. */
  list(): Promise<KernelRoute[]>;
  /**
   * Device routes (main table, no gateway) of DEVICE_ROUTE_PROTOCOL: what Calico's
   * CNI plugin leaves for a workload. The reconciler adopts those on workload
   * interfaces (route-reconciler.ts).
   */
  listDeviceRoutes?(): Promise<KernelRoute[]>;
  /** Like `ip route add`: EEXIST if any route (of any protocol) has the same dst. */
  add(route: RouteSpec): Promise<void>;
  /** Like `ip route replace`: overwrites whatever route has the same dst, else creates. */
  replace(route: RouteSpec): Promise<void>;
  /** Deletes our (protocol ROUTE_PROTOCOL) route for dst; ESRCH if there is none. */
  delete(route: Pick<RouteSpec, "dst">): Promise<void>;
  links(): Promise<LinkInfo[]>;
  linkIndex(name: string): Promise<number | undefined>;
  /** Releases the socket (the real implementation does not keep the process alive anyway). */
  close(): void;
}

/** An error carrying an errno name, like NodeJS.ErrnoException (`err.code === "ENODEV"`). */
export class ErrnoError extends Error {
  constructor(
    readonly code: string,
    message?: string,
  ) {
    super(message ?? code);
    this.name = "ErrnoError";
  }
}

/**
 * The errno name of an error: `err.code` when present, else parsed from the
 * netlink package's `Error("Request rejected: EEXIST")`.
 */
export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === "object" && typeof (err as { code?: unknown }).code === "string") {
    return (err as { code: string }).code;
  }
  const m = /Request rejected: (E[A-Z0-9]+|-?\d+)/.exec(String((err as Error | undefined)?.message ?? err));
  return m?.[1];
}

function rethrow(err: unknown, what: string): never {
  const code = errnoCode(err);
  if (code) throw new ErrnoError(code, `${what}: ${code}`);
  throw err;
}

// ---------------------------------------------------------------------------
// Addresses

export interface ParsedCidr {
  readonly family: 4 | 6;
  readonly bytes: Buffer;
  readonly len: number;
  /** Canonical text with host bits cleared. */
  readonly text: string;
}

/** Parses a CIDR (or bare IP) into masked bytes and canonical text; throws ErrnoError(EINVAL). */
export function parseRouteCidr(text: string): ParsedCidr {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let len: number;
  try {
    if (text.includes("/")) [addr, len] = ipaddr.parseCIDR(text.trim());
    else {
      addr = ipaddr.parse(text.trim());
      len = addr.kind() === "ipv4" ? 32 : 128;
    }
  } catch {
    throw new ErrnoError("EINVAL", `invalid CIDR ${JSON.stringify(text)}`);
  }
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return {
    family: addr.kind() === "ipv4" ? 4 : 6,
    bytes: Buffer.from(bytes),
    len,
    text: `${ipaddr.fromByteArray(bytes).toString()}/${len}`,
  };
}

/** Canonical text of an IP address; throws ErrnoError(EINVAL). */
export function canonicalIp(text: string): { family: 4 | 6; bytes: Buffer; text: string } {
  try {
    const a = ipaddr.parse(text.trim());
    return { family: a.kind() === "ipv4" ? 4 : 6, bytes: Buffer.from(a.toByteArray()), text: a.toString() };
  } catch {
    throw new ErrnoError("EINVAL", `invalid IP address ${JSON.stringify(text)}`);
  }
}

function bytesToCidr(bytes: Buffer | undefined, len: number, family: 4 | 6): string {
  const size = family === 4 ? 4 : 16;
  const b = Buffer.alloc(size);
  bytes?.copy(b, 0, 0, Math.min(size, bytes.length));
  return `${ipaddr.fromByteArray([...b]).toString()}/${len}`;
}

/** True when a kernel route already has what the desired route asks for. */
export function routeMatches(k: KernelRoute, r: RouteSpec): boolean {
  if (k.type !== r.type) return false;
  if (r.type === "blackhole") return true;
  const gw = r.gateway ? canonicalIp(r.gateway).text : undefined;
  if ((k.gateway ?? undefined) !== gw) return false;
  // A gateway route without dev: the kernel picks the interface, any is fine.
  if (r.dev !== undefined && k.dev !== r.dev) return false;
  // IPv6 has no route scopes (dumps always say universe).
  if (k.family === 4 && k.scope !== r.scope) return false;
  if (Boolean(k.onlink) !== Boolean(r.onlink)) return false;
  return true;
}

// ---------------------------------------------------------------------------
// Real implementation

const AF: Record<4 | 6, number> = { 4: 2, 6: 10 };

function enumName(v: unknown, e: Record<string | number, string | number>): string {
  if (typeof v === "string") return v.toLowerCase();
  const name = e[v as number];
  return typeof name === "string" ? name.toLowerCase() : String(v);
}

function enumNumber(v: unknown, e: Record<string | number, string | number>): number {
  if (typeof v === "number") return v;
  const n = e[v as string];
  return typeof n === "number" ? n : Number.NaN;
}

/** `net:[4026531840]` for the current process: which namespace the sockets bind to. */
export function currentNetns(): string {
  try {
    return readlinkSync("/proc/self/ns/net");
  } catch {
    return "unknown";
  }
}

export interface KernelNetlinkRoutesOptions {
  /** Per-request timeout (default 5000 ms). */
  readonly timeoutMs?: number;
}

export class KernelNetlinkRoutes implements NetlinkRoutes {
  private sock?: RtNetlinkSocket;
  private readonly timeout: number;
  private byName = new Map<string, number>();
  private byIndex = new Map<number, string>();
  /** Namespace the socket was opened in (set on first use). */
  netns?: string;

  constructor(opts: KernelNetlinkRoutesOptions = {}) {
    this.timeout = opts.timeoutMs ?? 5000;
  }

  private socket(): RtNetlinkSocket {
    if (!this.sock) {
      // Opened lazily, in the namespace of the calling process. Not referenced:
      // the package refs the socket only while requests are outstanding.
      this.sock = createRtNetlink();
      this.netns = currentNetns();
    }
    return this.sock;
  }

  close(): void {
    this.sock?.socket.close();
    this.sock = undefined;
  }

  async links(): Promise<LinkInfo[]> {
    let msgs: Awaited<ReturnType<RtNetlinkSocket["getLinks"]>>;
    try {
      msgs = await this.socket().getLinks(undefined, undefined, { timeout: this.timeout });
    } catch (e) {
      rethrow(e, "dump links");
    }
    const out: LinkInfo[] = [];
    this.byName = new Map();
    this.byIndex = new Map();
    for (const m of msgs) {
      const index = m.data.index;
      const name = m.attrs.ifname;
      if (index === undefined || name === undefined) continue;
      this.byName.set(name, index);
      this.byIndex.set(index, name);
      out.push({ name, index, up: m.data.flags?.up === true });
    }
    return out;
  }

  async linkIndex(name: string): Promise<number | undefined> {
    try {
      const msgs = await this.socket().getLink({}, { ifname: name }, { timeout: this.timeout });
      const index = msgs[0]?.data.index;
      if (index !== undefined) {
        this.byName.set(name, index);
        this.byIndex.set(index, name);
      }
      return index;
    } catch (e) {
      if (errnoCode(e) === "ENODEV") {
        this.byName.delete(name);
        return undefined;
      }
      rethrow(e, `get link ${name}`);
    }
  }

  async list(): Promise<KernelRoute[]> {
    return this.dump((protocol) => protocol === ROUTE_PROTOCOL);
  }

  async listDeviceRoutes(): Promise<KernelRoute[]> {
    const all = await this.dump((protocol) => protocol === DEVICE_ROUTE_PROTOCOL);
    return all.filter((r) => r.type === "unicast" && r.dev !== undefined && r.gateway === undefined);
  }

  private async dump(wanted: (protocol: number) => boolean): Promise<KernelRoute[]> {
    await this.links(); // refreshes the index cache and names the oifs below
    let msgs: Awaited<ReturnType<RtNetlinkSocket["getRoutes"]>>;
    try {
      // Family 0 dumps every table of every family; filter here.
      msgs = await this.socket().getRoutes(undefined, undefined, { timeout: this.timeout });
    } catch (e) {
      rethrow(e, "dump routes");
    }
    const out: KernelRoute[] = [];
    for (const m of msgs) {
      const d = m.data;
      if (d.family !== 2 && d.family !== 10) continue;
      // Tables above 255 only appear in the RTA_TABLE attribute.
      const table = m.attrs.table ?? d.table ?? 0;
      const protocol = enumNumber(d.protocol, rt.RouteProtocol as never);
      if (table !== MAIN_TABLE || !wanted(protocol)) continue;
      const family: 4 | 6 = d.family === 2 ? 4 : 6;
      const ifindex = m.attrs.oif;
      const type = enumName(d.type, rt.RouteType as never);
      out.push({
        dst: bytesToCidr(m.attrs.dst, d.dstLen ?? 0, family),
        family,
        type,
        scope: enumName(d.scope, rt.RouteScope as never),
        // IPv6 blackholes report oif=lo; that is not a device we asked for.
        dev: ifindex !== undefined && type === "unicast" ? this.byIndex.get(ifindex) : undefined,
        ifindex,
        gateway: m.attrs.gateway ? ipaddr.fromByteArray([...m.attrs.gateway]).toString() : undefined,
        protocol,
        table,
        priority: m.attrs.priority,
        ...(((d.flags?.__unknown ?? 0) & RTNH_F_ONLINK) !== 0 ? { onlink: true } : {}),
      });
    }
    return out;
  }

  async add(route: RouteSpec): Promise<void> {
    await this.write(route, FlagsNew.CREATE | FlagsNew.EXCL, "add");
  }

  async replace(route: RouteSpec): Promise<void> {
    await this.write(route, FlagsNew.CREATE | FlagsNew.REPLACE, "replace");
  }

  async delete(route: Pick<RouteSpec, "dst">): Promise<void> {
    const c = parseRouteCidr(route.dst);
    try {
      // scope NOWHERE matches any scope (the default 0 only matches universe
      // routes); protocol 80 makes the kernel skip other daemons' routes.
      await this.socket().delRoute(
        {
          family: AF[c.family],
          table: MAIN_TABLE,
          protocol: ROUTE_PROTOCOL as rt.RouteProtocol,
          dstLen: c.len,
          scope: "NOWHERE",
        },
        { dst: c.bytes },
        { timeout: this.timeout },
      );
    } catch (e) {
      rethrow(e, `delete ${c.text}`);
    }
  }

  private async resolveDev(name: string, fresh: boolean): Promise<number> {
    const cached = fresh ? undefined : this.byName.get(name);
    const index = cached ?? (await this.linkIndex(name));
    if (index === undefined) throw new ErrnoError("ENODEV", `no device ${name}`);
    return index;
  }

  private async write(route: RouteSpec, flags: number, op: string): Promise<void> {
    const c = parseRouteCidr(route.dst);
    const blackhole = route.type === "blackhole";
    const attrs: rt.RouteAttrs = { dst: c.bytes };
    if (!blackhole && route.gateway) {
      const gw = canonicalIp(route.gateway);
      if (gw.family !== c.family) throw new ErrnoError("EINVAL", `${op} ${c.text}: gateway family mismatch`);
      // No oif needed: the kernel resolves the nexthop's device itself (and
      // says ENETUNREACH when no connected route reaches the gateway).
      attrs.gateway = gw.bytes;
    }
    const data: rt.Route = {
      family: AF[c.family],
      table: MAIN_TABLE,
      protocol: ROUTE_PROTOCOL as rt.RouteProtocol,
      dstLen: c.len,
      scope: !blackhole && c.family === 4 && route.scope === "link" ? "LINK" : "UNIVERSE",
      type: blackhole ? "BLACKHOLE" : "UNICAST",
      ...(!blackhole && route.onlink ? { flags: { __unknown: RTNH_F_ONLINK } } : {}),
    };
    for (let attempt = 0; ; attempt++) {
      if (!blackhole && route.dev) attrs.oif = await this.resolveDev(route.dev, attempt > 0);
      try {
        await this.socket().newRoute(data, attrs, { flags, timeout: this.timeout });
        return;
      } catch (e) {
        // A cached index may be stale (device re-created): look it up once more.
        if (errnoCode(e) === "ENODEV" && route.dev && attempt === 0) continue;
        rethrow(e, `${op} ${c.text}`);
      }
    }
  }
}
