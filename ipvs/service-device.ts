// The dummy interface that holds the service IPs (kube-proxy's kube-ipvs0,
// ours `cali-ipvs0`): IPVS only sees packets addressed to a local IP, so every
// cluster, external and load-balancer IP is bound on it as a /32 or /128.
// The real implementation drives `ip` (iproute2); a kernel without the dummy
// link kind (CONFIG_DUMMY) is reported as DummyUnsupportedError. The fake
// keeps addresses in memory and can play such a kernel.

import ipaddr from "ipaddr.js";
import { CommandNotFoundError, type ExecResult, run } from "../iptables/exec.js";

export interface ServiceAddressDevice {
  /** Canonical addresses on the device; undefined when the device does not exist. */
  addresses(device: string): Promise<string[] | undefined>;
  /** Creates the device (a dummy link, up). */
  create(device: string): Promise<void>;
  add(device: string, ip: string): Promise<void>;
  remove(device: string, ip: string): Promise<void>;
}

export class ServiceDeviceError extends Error {}

/** The kernel cannot create dummy links: there is nowhere to bind the service IPs. */
export class DummyUnsupportedError extends ServiceDeviceError {}

export function dummyUnsupported(device: string, said: string): DummyUnsupportedError {
  return new DummyUnsupportedError(
    `cannot create ${device} to hold the service IPs: this kernel has no dummy link kind ` +
      `(CONFIG_DUMMY; ip says ${JSON.stringify(said)}); load the dummy module, or use FELIX_PROXYMODE=iptables`,
  );
}

const hostLen = (ip: string) => (ip.includes(":") ? 128 : 32);

export type IpExec = (args: readonly string[]) => Promise<ExecResult>;

/** Through iproute2's `ip`, in this process's network namespace. */
export class IpCommandDevice implements ServiceAddressDevice {
  constructor(private readonly exec: IpExec = (args) => run("ip", args)) {}

  async addresses(device: string): Promise<string[] | undefined> {
    const r = await this.ip(["-j", "addr", "show", "dev", device], true);
    if (r.code !== 0) {
      if (/does not exist/.test(r.stderr)) return undefined;
      throw new ServiceDeviceError(`ip addr show dev ${device} failed: ${r.stderr.trim()}`);
    }
    const links = JSON.parse(r.stdout || "[]") as { addr_info?: { local?: string; scope?: string }[] }[];
    return links
      .flatMap((l) => l.addr_info ?? [])
      .filter((a) => a.local && a.scope !== "link") // an IPv6 link-local address is the kernel's, not ours
      .map((a) => ipaddr.process(a.local!).toString());
  }

  async create(device: string): Promise<void> {
    const r = await this.ip(["link", "add", device, "type", "dummy"], true);
    if (r.code !== 0 && !/File exists/.test(r.stderr)) {
      if (/Unknown device type|Operation not supported|not supported/i.test(r.stderr)) {
        throw dummyUnsupported(device, r.stderr.trim());
      }
      throw new ServiceDeviceError(`ip link add ${device} type dummy failed: ${r.stderr.trim()}`);
    }
    await this.ip(["link", "set", device, "up"]);
  }

  async add(device: string, ip: string): Promise<void> {
    // nodad: a service IP must be usable at once, not after duplicate address detection.
    const extra = ip.includes(":") ? ["nodad"] : [];
    const r = await this.ip(["addr", "add", `${ip}/${hostLen(ip)}`, "dev", device, ...extra], true);
    if (r.code !== 0 && !/File exists/.test(r.stderr)) {
      throw new ServiceDeviceError(`ip addr add ${ip} dev ${device} failed: ${r.stderr.trim()}`);
    }
  }

  async remove(device: string, ip: string): Promise<void> {
    const r = await this.ip(["addr", "del", `${ip}/${hostLen(ip)}`, "dev", device], true);
    if (r.code !== 0 && !/Cannot assign requested address/.test(r.stderr)) {
      throw new ServiceDeviceError(`ip addr del ${ip} dev ${device} failed: ${r.stderr.trim()}`);
    }
  }

  private async ip(args: string[], tolerate = false): Promise<ExecResult> {
    let r: ExecResult;
    try {
      r = await this.exec(args);
    } catch (e) {
      if (e instanceof CommandNotFoundError) throw new ServiceDeviceError("ip (iproute2) is not installed");
      throw e;
    }
    if (r.code !== 0 && !tolerate) throw new ServiceDeviceError(`ip ${args.join(" ")} failed: ${r.stderr.trim()}`);
    return r;
  }
}

export class FakeServiceAddressDevice implements ServiceAddressDevice {
  readonly devices = new Map<string, Set<string>>();
  readonly calls: string[] = [];

  /** `dummySupported: false` plays a kernel without CONFIG_DUMMY (like this machine's). */
  constructor(private readonly o: { dummySupported?: boolean } = {}) {}

  async addresses(device: string): Promise<string[] | undefined> {
    const d = this.devices.get(device);
    return d ? [...d] : undefined;
  }

  async create(device: string): Promise<void> {
    this.calls.push(`create ${device}`);
    if (this.o.dummySupported === false) throw dummyUnsupported(device, "Error: Unknown device type.");
    if (!this.devices.has(device)) this.devices.set(device, new Set());
  }

  async add(device: string, ip: string): Promise<void> {
    this.calls.push(`add ${ip}`);
    const d = this.devices.get(device);
    if (!d) throw new ServiceDeviceError(`Cannot find device "${device}"`);
    d.add(ip);
  }

  async remove(device: string, ip: string): Promise<void> {
    this.calls.push(`remove ${ip}`);
    this.devices.get(device)?.delete(ip);
  }
}
