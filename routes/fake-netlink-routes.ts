// An in-memory stand-in for the kernel's main routing table, behind the same
// `NetlinkRoutes` interface as the real rtnetlink implementation, for unit tests.

import ipaddr from "ipaddr.js";
import {
  canonicalIp,
  ErrnoError,
  type KernelRoute,
  type LinkInfo,
  MAIN_TABLE,
  type NetlinkRoutes,
  type ParsedCidr,
  parseRouteCidr,
  type RouteSpec,
} from "./netlink-routes.js";
import { DEVICE_ROUTE_PROTOCOL, ROUTE_PROTOCOL } from "./route.js";

interface FakeLink {
  index: number;
  up: boolean;
  /** Addresses as `ip/len`, each giving a connected route while the link is up. */
  addrs: string[];
}

type FakeRoute = KernelRoute;

/**
 * An in-memory main table with the kernel's rules: ENODEV for an unknown
 * device, ENETDOWN for a down one, ENETUNREACH for an unreachable gateway,
 * EEXIST when any route has the dst (add), ESRCH when deleting a route that
 * is not ours; a device going down or away takes its routes with it.
 */
export class FakeNetlinkRoutes implements NetlinkRoutes {
  /** Every write, e.g. `add 10.0.0.5/32`, `replace ...`, `delete ...` (successful or not). */
  readonly ops: string[] = [];
  private readonly linkTable = new Map<string, FakeLink>();
  private routes: FakeRoute[] = [];
  private nextIndex = 2;
  private readonly injected = new Map<string, string>();

  constructor() {
    this.linkTable.set("lo", { index: 1, up: true, addrs: [] });
  }

  // --- test controls -------------------------------------------------------

  addLink(name: string, opts: { up?: boolean } = {}): number {
    if (this.linkTable.has(name)) throw new ErrnoError("EEXIST", `link ${name} exists`);
    const index = this.nextIndex++;
    this.linkTable.set(name, { index, up: opts.up ?? true, addrs: [] });
    return index;
  }

  setLinkUp(name: string, up: boolean): void {
    const l = this.mustLink(name);
    if (l.up === up) return;
    l.up = up;
    if (up) for (const a of l.addrs) this.addConnected(name, a);
    else this.flushDev(name);
  }

  removeLink(name: string): void {
    this.mustLink(name);
    this.flushDev(name);
    this.linkTable.delete(name);
  }

  /** `ip addr add 10.99.0.1/24 dev X`: a proto-kernel connected route while X is up. */
  addAddress(dev: string, cidr: string): void {
    const l = this.mustLink(dev);
    l.addrs.push(cidr);
    if (l.up) this.addConnected(dev, cidr);
  }

  /** Puts a route straight into the table (any protocol/table), like `ip route add ... proto N`. */
  injectRoute(r: Partial<KernelRoute> & { dst: string }): void {
    const c = parseRouteCidr(r.dst);
    const ifindex = r.dev ? this.linkTable.get(r.dev)?.index : undefined;
    this.routes.push({
      family: c.family,
      type: "unicast",
      scope: "universe",
      protocol: 4,
      table: MAIN_TABLE,
      ...r,
      dst: c.text,
      ifindex,
    });
  }

  /** The next write for dst fails with this errno (once). */
  failNext(dst: string, code: string): void {
    this.injected.set(parseRouteCidr(dst).text, code);
  }

  /** Every route of every protocol and table. */
  allRoutes(): KernelRoute[] {
    return this.routes.map((r) => ({ ...r }));
  }

  // --- NetlinkRoutes ----------------------------------------------------------

  async list(): Promise<KernelRoute[]> {
    return this.routes.filter((r) => r.table === MAIN_TABLE && r.protocol === ROUTE_PROTOCOL).map((r) => ({ ...r }));
  }

  async listDeviceRoutes(): Promise<KernelRoute[]> {
    return this.routes
      .filter(
        (r) =>
          r.table === MAIN_TABLE &&
          r.protocol === DEVICE_ROUTE_PROTOCOL &&
          r.type === "unicast" &&
          r.dev !== undefined &&
          !r.gateway,
      )
      .map((r) => ({ ...r }));
  }

  async links(): Promise<LinkInfo[]> {
    return [...this.linkTable].map(([name, l]) => ({ name, index: l.index, up: l.up }));
  }

  async linkIndex(name: string): Promise<number | undefined> {
    return this.linkTable.get(name)?.index;
  }

  async add(route: RouteSpec): Promise<void> {
    const c = parseRouteCidr(route.dst);
    this.ops.push(`add ${c.text}`);
    this.checkInjected(c.text);
    const built = this.build(route, c);
    if (this.findMain(c.text)) throw new ErrnoError("EEXIST", `add ${c.text}: EEXIST`);
    this.routes.push(built);
  }

  async replace(route: RouteSpec): Promise<void> {
    const c = parseRouteCidr(route.dst);
    this.ops.push(`replace ${c.text}`);
    this.checkInjected(c.text);
    const built = this.build(route, c);
    const i = this.routes.findIndex((r) => r.table === MAIN_TABLE && r.dst === c.text);
    if (i >= 0) this.routes[i] = built;
    else this.routes.push(built);
  }

  async delete(route: Pick<RouteSpec, "dst">): Promise<void> {
    const c = parseRouteCidr(route.dst);
    this.ops.push(`delete ${c.text}`);
    this.checkInjected(c.text);
    const i = this.routes.findIndex((r) => r.table === MAIN_TABLE && r.dst === c.text && r.protocol === ROUTE_PROTOCOL);
    if (i < 0) throw new ErrnoError("ESRCH", `delete ${c.text}: ESRCH`);
    this.routes.splice(i, 1);
  }

  close(): void {}

  // --- internals ---------------------------------------------------------------

  private mustLink(name: string): FakeLink {
    const l = this.linkTable.get(name);
    if (!l) throw new ErrnoError("ENODEV", `no device ${name}`);
    return l;
  }

  private checkInjected(dst: string): void {
    const code = this.injected.get(dst);
    if (code) {
      this.injected.delete(dst);
      throw new ErrnoError(code, `${dst}: ${code}`);
    }
  }

  private findMain(dst: string): FakeRoute | undefined {
    return this.routes.find((r) => r.table === MAIN_TABLE && r.dst === dst);
  }

  private flushDev(name: string): void {
    this.routes = this.routes.filter((r) => r.dev !== name);
  }

  private addConnected(dev: string, cidr: string): void {
    const c = parseRouteCidr(cidr);
    if (this.findMain(c.text)) return;
    this.routes.push({
      dst: c.text,
      family: c.family,
      type: "unicast",
      scope: "link",
      dev,
      ifindex: this.linkTable.get(dev)?.index,
      protocol: 2,
      table: MAIN_TABLE,
    });
  }

  private build(route: RouteSpec, c: ParsedCidr): FakeRoute {
    const base = { dst: c.text, family: c.family, protocol: ROUTE_PROTOCOL, table: MAIN_TABLE };
    if (route.type === "blackhole") return { ...base, type: "blackhole", scope: "universe" };
    let dev = route.dev;
    let gateway: string | undefined;
    if (dev !== undefined) {
      const l = this.linkTable.get(dev);
      if (!l) throw new ErrnoError("ENODEV", `${c.text}: no device ${dev}`);
      if (!l.up) throw new ErrnoError("ENETDOWN", `${c.text}: device ${dev} is down`);
    }
    if (route.gateway && route.onlink) {
      // onlink: the kernel takes the gateway as directly on dev, unchecked.
      if (dev === undefined) throw new ErrnoError("EINVAL", `${c.text}: onlink needs a device`);
      gateway = canonicalIp(route.gateway).text;
    } else if (route.gateway) {
      const gw = canonicalIp(route.gateway);
      if (gw.family !== c.family) throw new ErrnoError("EINVAL", `${c.text}: gateway family mismatch`);
      gateway = gw.text;
      // The kernel resolves the gateway through a connected (link-scope) route.
      const via = this.routes.find(
        (r) =>
          r.table === MAIN_TABLE &&
          r.type === "unicast" &&
          r.scope === "link" &&
          r.dev !== undefined &&
          (dev === undefined || r.dev === dev) &&
          r.family === gw.family &&
          ipaddr.parse(gw.text).match(ipaddr.parseCIDR(r.dst)),
      );
      if (!via) throw new ErrnoError("ENETUNREACH", `${c.text}: gateway ${gw.text} unreachable`);
      dev = via.dev;
    }
    const scope = c.family === 4 && route.scope === "link" ? "link" : "universe";
    const onlink = route.onlink && gateway ? { onlink: true } : {};
    return { ...base, type: "unicast", scope, dev, ifindex: this.linkTable.get(dev ?? "")?.index, gateway, ...onlink };
  }
}
