// Kernel access for tunnel devices: a small interface, a real implementation
// over iproute2 (`ip -j -d link`, `ip link add … type vxlan`, `ip addr`),
// which builds the nested VXLAN link attributes for us, and an in-memory fake
// that can also play a kernel without IPIP (as this machine's).

import { run } from "../iptables/exec.js";

export interface TunnelLinkState {
  readonly name: string;
  /** linkinfo kind: `vxlan`, `ipip`, … */
  readonly kind: string;
  readonly up: boolean;
  readonly mtu: number;
  readonly mac?: string;
  readonly vni?: number;
  readonly port?: number;
  readonly local?: string;
  readonly parent?: string;
  readonly learning?: boolean;
  /** IPv4 addresses as `ip/len`. */
  readonly addrs: readonly string[];
}

export interface VxlanSpec {
  readonly name: string;
  readonly vni: number;
  readonly port: number;
  readonly localIp: string;
  readonly parent: string;
  readonly mac: string;
  readonly mtu: number;
}

export interface TunnelLinks {
  get(name: string): Promise<TunnelLinkState | undefined>;
  /** Every device with its addresses, in one dump (answers the host MTU and all our tunnel devices at once). */
  list(): Promise<TunnelLinkState[]>;
  /** Creates the VXLAN device (learning off), with its MAC and MTU, up. */
  addVxlan(spec: VxlanSpec): Promise<void>;
  /** Creates the IPIP device (EOPNOTSUPP where the kernel has no IPIP). */
  addIpip(name: string): Promise<void>;
  delete(name: string): Promise<void>;
  setMtu(name: string, mtu: number): Promise<void>;
  setUp(name: string): Promise<void>;
  addAddress(name: string, cidr: string): Promise<void>;
  deleteAddress(name: string, cidr: string): Promise<void>;
  /** The device holding an address (the VXLAN parent). */
  deviceWithAddress(ip: string): Promise<string | undefined>;
  /** Felix's host MTU: the smallest MTU of the up devices whose name matches `pattern`, else undefined. */
  smallestMtu(pattern: string): Promise<number | undefined>;
}

export class TunnelLinkError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface IpLinkJson {
  ifname: string;
  flags?: string[];
  operstate?: string;
  mtu: number;
  address?: string;
  link?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

/** A device as `ip -j -d addr show` prints it. */
function stateOf(l: IpLinkJson): TunnelLinkState {
  const d = l.linkinfo?.info_data ?? {};
  return {
    name: l.ifname,
    kind: l.linkinfo?.info_kind ?? "",
    up: (l.flags ?? []).includes("UP"),
    mtu: l.mtu,
    mac: l.address,
    vni: typeof d.id === "number" ? d.id : undefined,
    port: typeof d.port === "number" ? d.port : undefined,
    local: typeof d.local === "string" ? d.local : undefined,
    parent: typeof d.link === "string" ? d.link : undefined,
    learning: typeof d.learning === "boolean" ? d.learning : undefined,
    // The kernel's own IPv6 link-local address is not ours to manage.
    addrs: (l.addr_info ?? [])
      .filter((a) => a.family === "inet" || (a.family === "inet6" && a.scope !== "link"))
      .map((a) => `${a.local}/${a.prefixlen}`),
  };
}

/** Felix's host MTU over a device list: the smallest MTU of the up devices matching `pattern`. */
export function smallestUpMtu(devices: readonly { name: string; up: boolean; mtu: number }[], pattern: string) {
  const re = new RegExp(pattern);
  const mtus = devices.filter((l) => re.test(l.name) && l.up).map((l) => l.mtu);
  return mtus.length ? Math.min(...mtus) : undefined;
}

/** iproute2 in the current network namespace. */
export class IpTunnelLinks implements TunnelLinks {
  constructor(private readonly ip = "ip") {}

  private async ipCmd(args: string[]): Promise<string> {
    const r = await run(this.ip, args);
    if (r.code !== 0) {
      const msg = r.stderr.trim() || r.stdout.trim();
      const code = /Cannot find device|does not exist/.test(msg)
        ? "ENODEV"
        : /not supported|Unknown device type|EOPNOTSUPP/i.test(msg)
          ? "EOPNOTSUPP"
          : /File exists/.test(msg)
            ? "EEXIST"
            : "EIO";
      throw new TunnelLinkError(code, `ip ${args.join(" ")}: ${msg}`);
    }
    return r.stdout;
  }

  async get(name: string): Promise<TunnelLinkState | undefined> {
    let out: string;
    try {
      out = await this.ipCmd(["-j", "-d", "addr", "show", "dev", name]);
    } catch (e) {
      if ((e as TunnelLinkError).code === "ENODEV") return undefined;
      throw e;
    }
    const l = (JSON.parse(out) as IpLinkJson[])[0];
    return l && stateOf(l);
  }

  async list(): Promise<TunnelLinkState[]> {
    return (JSON.parse(await this.ipCmd(["-j", "-d", "addr", "show"])) as IpLinkJson[]).map(stateOf);
  }

  async addVxlan(s: VxlanSpec): Promise<void> {
    const id = String(s.vni);
    await this.ipCmd(
      ["link", "add", s.name, "type", "vxlan", "id", id, "dstport", String(s.port), "local", s.localIp].concat([
        "dev",
        s.parent,
        "nolearning",
      ]),
    );
    await this.ipCmd(["link", "set", s.name, "address", s.mac, "mtu", String(s.mtu), "up"]);
  }

  async addIpip(name: string): Promise<void> {
    await this.ipCmd(["link", "add", name, "type", "ipip"]);
  }

  async delete(name: string): Promise<void> {
    await this.ipCmd(["link", "del", name]);
  }

  async setMtu(name: string, mtu: number): Promise<void> {
    await this.ipCmd(["link", "set", name, "mtu", String(mtu)]);
  }

  async setUp(name: string): Promise<void> {
    await this.ipCmd(["link", "set", name, "up"]);
  }

  async addAddress(name: string, cidr: string): Promise<void> {
    await this.ipCmd(["addr", "add", cidr, "dev", name]);
  }

  async deleteAddress(name: string, cidr: string): Promise<void> {
    await this.ipCmd(["addr", "del", cidr, "dev", name]);
  }

  async deviceWithAddress(ip: string): Promise<string | undefined> {
    const all = JSON.parse(await this.ipCmd(["-j", ip.includes(":") ? "-6" : "-4", "addr", "show"])) as IpLinkJson[];
    return all.find((l) => (l.addr_info ?? []).some((a) => a.local === ip))?.ifname;
  }

  async smallestMtu(pattern: string): Promise<number | undefined> {
    const all = JSON.parse(await this.ipCmd(["-j", "link", "show"])) as IpLinkJson[];
    return smallestUpMtu(
      all.map((l) => ({ name: l.ifname, up: (l.flags ?? []).includes("UP"), mtu: l.mtu })),
      pattern,
    );
  }
}

interface FakeLink {
  kind: string;
  up: boolean;
  mtu: number;
  mac?: string;
  vni?: number;
  port?: number;
  local?: string;
  parent?: string;
  learning?: boolean;
  addrs: string[];
}

/** In memory. `ipipSupported: false` plays a kernel without the ipip module (EOPNOTSUPP). */
export class FakeTunnelLinks implements TunnelLinks {
  readonly ops: string[] = [];
  readonly links = new Map<string, FakeLink>();
  /** list calls: one device dump each. */
  dumps = 0;

  constructor(private readonly o: { ipipSupported?: boolean } = {}) {}

  /** A host device, e.g. `addHost("eth0", 1500, "172.31.250.1/24")`. */
  addHost(name: string, mtu: number, cidr?: string, up = true): void {
    this.links.set(name, { kind: "veth", up, mtu, addrs: cidr ? [cidr] : [] });
  }

  private must(name: string): FakeLink {
    const l = this.links.get(name);
    if (!l) throw new TunnelLinkError("ENODEV", `no device ${name}`);
    return l;
  }

  async get(name: string): Promise<TunnelLinkState | undefined> {
    const l = this.links.get(name);
    return l && { name, ...l, addrs: [...l.addrs] };
  }

  async list(): Promise<TunnelLinkState[]> {
    this.dumps++;
    return [...this.links].map(([name, l]) => ({ name, ...l, addrs: [...l.addrs] }));
  }

  async addVxlan(s: VxlanSpec): Promise<void> {
    this.ops.push(`add vxlan ${s.name} id ${s.vni} dstport ${s.port} local ${s.localIp} dev ${s.parent} mtu ${s.mtu}`);
    if (this.links.has(s.name)) throw new TunnelLinkError("EEXIST", `${s.name} exists`);
    this.must(s.parent);
    this.links.set(s.name, {
      kind: "vxlan",
      up: true,
      mtu: s.mtu,
      mac: s.mac,
      vni: s.vni,
      port: s.port,
      local: s.localIp,
      parent: s.parent,
      learning: false,
      addrs: [],
    });
  }

  async addIpip(name: string): Promise<void> {
    this.ops.push(`add ipip ${name}`);
    if (this.o.ipipSupported === false) throw new TunnelLinkError("EOPNOTSUPP", "ipip: not supported by this kernel");
    this.links.set(name, { kind: "ipip", up: false, mtu: 1480, addrs: [] });
  }

  async delete(name: string): Promise<void> {
    this.ops.push(`del ${name}`);
    this.must(name);
    this.links.delete(name);
  }

  async setMtu(name: string, mtu: number): Promise<void> {
    this.ops.push(`mtu ${name} ${mtu}`);
    this.must(name).mtu = mtu;
  }

  async setUp(name: string): Promise<void> {
    this.ops.push(`up ${name}`);
    this.must(name).up = true;
  }

  async addAddress(name: string, cidr: string): Promise<void> {
    this.ops.push(`addr add ${cidr} ${name}`);
    const l = this.must(name);
    if (l.addrs.includes(cidr)) throw new TunnelLinkError("EEXIST", `${cidr} exists`);
    l.addrs.push(cidr);
  }

  async deleteAddress(name: string, cidr: string): Promise<void> {
    this.ops.push(`addr del ${cidr} ${name}`);
    const l = this.must(name);
    l.addrs = l.addrs.filter((a) => a !== cidr);
  }

  async deviceWithAddress(ip: string): Promise<string | undefined> {
    return [...this.links].find(([, l]) => l.addrs.some((a) => a.split("/")[0] === ip))?.[0];
  }

  async smallestMtu(pattern: string): Promise<number | undefined> {
    return smallestUpMtu(
      [...this.links].map(([name, l]) => ({ name, ...l })),
      pattern,
    );
  }
}
