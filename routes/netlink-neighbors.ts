// Kernel access for neighbour (ARP) and bridge-FDB entries on our tunnel
// devices: a small interface, a real implementation on the `netlink` package
// (RTM_NEWNEIGH/RTM_DELNEIGH: AF_INET with NUD_PERMANENT for ARP; AF_BRIDGE
// with NTF_SELF, NUD_PERMANENT and NDA_DST for the VXLAN FDB), and an
// in-memory fake. Only permanent entries are read back: the kernel's own
// (learned, incomplete) entries are never ours.

import ipaddr from "ipaddr.js";
import { createRtNetlink, FlagsNew, type RtNetlinkSocket } from "netlink";
import type { FdbEntry, NeighborEntry } from "./neighbor.js";
import { ErrnoError, errnoCode } from "./netlink-routes.js";

export interface NetlinkNeighbors {
  /** Permanent IPv4 neighbours on `dev`; ENODEV when it is missing. */
  listNeighbors(dev: string): Promise<NeighborEntry[]>;
  /** Permanent FDB entries with a destination on `dev`; ENODEV when it is missing. */
  listFdb(dev: string): Promise<FdbEntry[]>;
  /** Create or replace. */
  setNeighbor(n: NeighborEntry): Promise<void>;
  deleteNeighbor(n: Pick<NeighborEntry, "dev" | "ip">): Promise<void>;
  setFdb(f: FdbEntry): Promise<void>;
  deleteFdb(f: Pick<FdbEntry, "dev" | "mac" | "dst">): Promise<void>;
  close(): void;
}

const AF_INET = 2;
const AF_INET6 = 10;
const AF_BRIDGE = 7;
/** Neighbour entries of an IPv6 VXLAN device are AF_INET6. */
const familyOf = (ip: string) => (ip.includes(":") ? AF_INET6 : AF_INET);

const macBytes = (mac: string) => Buffer.from(mac.split(":").map((h) => Number.parseInt(h, 16)));
const macText = (b: Buffer | undefined) => [...(b ?? [])].map((x) => x.toString(16).padStart(2, "0")).join(":");
const ipBytes = (ip: string) => Buffer.from(ipaddr.parse(ip).toByteArray());
const ipText = (b: Buffer | undefined) => (b ? ipaddr.fromByteArray([...b]).toString() : "");

export class KernelNetlinkNeighbors implements NetlinkNeighbors {
  private sock?: RtNetlinkSocket;

  private socket(): RtNetlinkSocket {
    this.sock ??= createRtNetlink();
    return this.sock;
  }

  close(): void {
    this.sock?.socket.close();
    this.sock = undefined;
  }

  private async index(dev: string): Promise<number> {
    try {
      const msgs = await this.socket().getLink({}, { ifname: dev });
      const i = msgs[0]?.data.index;
      if (i !== undefined) return i;
    } catch (e) {
      if (errnoCode(e) !== "ENODEV") throw e;
    }
    throw new ErrnoError("ENODEV", `no device ${dev}`);
  }

  private async dump(dev: string, family: number) {
    const ifindex = await this.index(dev);
    const msgs = await this.socket().getNeighbors({ family, ifindex });
    // Some kernels ignore the ifindex filter of a dump: filter here too.
    return msgs.filter((m) => m.data.ifindex === ifindex && m.data.state?.permanent === true);
  }

  async listNeighbors(dev: string): Promise<NeighborEntry[]> {
    const out: NeighborEntry[] = [];
    for (const family of [AF_INET, AF_INET6]) {
      for (const m of await this.dump(dev, family)) {
        if (m.data.family === family && m.attrs.dst && m.attrs.lladdr)
          out.push({ dev, ip: ipText(m.attrs.dst), mac: macText(m.attrs.lladdr) });
      }
    }
    return out;
  }

  async listFdb(dev: string): Promise<FdbEntry[]> {
    return (await this.dump(dev, AF_BRIDGE))
      .filter((m) => m.data.family === AF_BRIDGE && m.attrs.dst && m.attrs.lladdr)
      .map((m) => ({ dev, mac: macText(m.attrs.lladdr), dst: ipText(m.attrs.dst) }));
  }

  async setNeighbor(n: NeighborEntry): Promise<void> {
    const ifindex = await this.index(n.dev);
    await this.write(
      () =>
        this.socket().newNeighbor(
          { family: familyOf(n.ip), ifindex, state: { permanent: true } },
          { dst: ipBytes(n.ip), lladdr: macBytes(n.mac) },
          { flags: FlagsNew.CREATE | FlagsNew.REPLACE },
        ),
      `neighbour ${n.ip} on ${n.dev}`,
    );
  }

  async deleteNeighbor(n: Pick<NeighborEntry, "dev" | "ip">): Promise<void> {
    const ifindex = await this.index(n.dev);
    await this.write(
      () => this.socket().delNeighbor({ family: familyOf(n.ip), ifindex }, { dst: ipBytes(n.ip) }),
      `delete neighbour ${n.ip} on ${n.dev}`,
    );
  }

  async setFdb(f: FdbEntry): Promise<void> {
    const ifindex = await this.index(f.dev);
    await this.write(
      () =>
        this.socket().newNeighbor(
          { family: AF_BRIDGE, ifindex, state: { permanent: true }, flags: { self: true } },
          { lladdr: macBytes(f.mac), dst: ipBytes(f.dst) },
          { flags: FlagsNew.CREATE | FlagsNew.REPLACE },
        ),
      `fdb ${f.mac} on ${f.dev}`,
    );
  }

  async deleteFdb(f: Pick<FdbEntry, "dev" | "mac" | "dst">): Promise<void> {
    const ifindex = await this.index(f.dev);
    await this.write(
      () =>
        this.socket().delNeighbor(
          { family: AF_BRIDGE, ifindex, flags: { self: true } },
          { lladdr: macBytes(f.mac), dst: ipBytes(f.dst) },
        ),
      `delete fdb ${f.mac} on ${f.dev}`,
    );
  }

  private async write(f: () => Promise<unknown>, what: string): Promise<void> {
    try {
      await f();
    } catch (e) {
      const code = errnoCode(e);
      if (code) throw new ErrnoError(code, `${what}: ${code}`);
      throw e;
    }
  }
}

/** In memory: devices come and go (ENODEV), entries keyed like the kernel's (ip / mac+dst per device). */
export class FakeNetlinkNeighbors implements NetlinkNeighbors {
  readonly ops: string[] = [];
  private readonly devs = new Map<string, { neigh: Map<string, NeighborEntry>; fdb: Map<string, FdbEntry> }>();

  addDevice(dev: string): void {
    if (!this.devs.has(dev)) this.devs.set(dev, { neigh: new Map(), fdb: new Map() });
  }

  removeDevice(dev: string): void {
    this.devs.delete(dev);
  }

  private dev(name: string) {
    const d = this.devs.get(name);
    if (!d) throw new ErrnoError("ENODEV", `no device ${name}`);
    return d;
  }

  async listNeighbors(dev: string): Promise<NeighborEntry[]> {
    return [...this.dev(dev).neigh.values()].map((n) => ({ ...n }));
  }

  async listFdb(dev: string): Promise<FdbEntry[]> {
    return [...this.dev(dev).fdb.values()].map((f) => ({ ...f }));
  }

  async setNeighbor(n: NeighborEntry): Promise<void> {
    this.ops.push(`neigh replace ${n.ip} ${n.mac} dev ${n.dev}`);
    this.dev(n.dev).neigh.set(n.ip, { dev: n.dev, ip: n.ip, mac: n.mac });
  }

  async deleteNeighbor(n: Pick<NeighborEntry, "dev" | "ip">): Promise<void> {
    this.ops.push(`neigh del ${n.ip} dev ${n.dev}`);
    if (!this.dev(n.dev).neigh.delete(n.ip)) throw new ErrnoError("ENOENT", `no neighbour ${n.ip}`);
  }

  async setFdb(f: FdbEntry): Promise<void> {
    this.ops.push(`fdb replace ${f.mac} dst ${f.dst} dev ${f.dev}`);
    this.dev(f.dev).fdb.set(`${f.mac} ${f.dst}`, { dev: f.dev, mac: f.mac, dst: f.dst });
  }

  async deleteFdb(f: Pick<FdbEntry, "dev" | "mac" | "dst">): Promise<void> {
    this.ops.push(`fdb del ${f.mac} dst ${f.dst} dev ${f.dev}`);
    if (!this.dev(f.dev).fdb.delete(`${f.mac} ${f.dst}`)) throw new ErrnoError("ENOENT", `no fdb ${f.mac}`);
  }

  close(): void {}
}
