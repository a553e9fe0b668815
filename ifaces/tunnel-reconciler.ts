// Keeps our tunnel devices as the graph decided (Felix's vxlan_mgr and
// ipip_mgr device handling):
//   - vxlan.calico: created with the VNI, port, underlay address and parent
//     device, learning off, the node's VTEP MAC; re-created when any of those
//     differ; MTU and up state fixed in place; exactly the tunnel address;
//     deleted when no longer wanted.
//   - tunl0: created when wanted (where the kernel has IPIP), MTU, up, the
//     tunnel address; when not wanted only its addresses go (the kernel's
//     fallback device cannot be deleted).
// MTUs left to auto are the host MTU (smallest up device matching
// mtuIfacePattern, else 1460) minus the overhead; the resulting pod MTU is
// written where Calico's CNI plugin reads it.

import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import {
  DEFAULT_HOST_MTU,
  type MtuResult,
  type MtuSettings,
  overheadOf,
  resolveMtu,
  type TunnelDevice,
} from "./tunnel.js";
import { smallestUpMtu, type TunnelLinks } from "./tunnel-links.js";

export const DEFAULT_MTU_FILE = "/var/lib/calico/mtu";
export const OWNED_TUNNELS: readonly string[] = ["vxlan.calico", "vxlan-v6.calico", "tunl0"];

export interface TunnelDesired {
  readonly poolsInUse: boolean;
  readonly tunnels: Readonly<Record<string, TunnelDevice>>;
  readonly mtu: MtuSettings;
}

export interface TunnelApplyResult {
  /** Kernel writes (devices, MTUs, addresses) plus the MTU file. */
  readonly changes: number;
  readonly warnings: string[];
  readonly mtu: MtuResult;
  /** The pod MTU file written this time, if it changed. */
  readonly mtuFileWritten?: string;
}

export interface TunnelReconcilerOptions {
  /** Where the pod MTU goes (default /var/lib/calico/mtu); undefined: not written. */
  readonly mtuFile?: string;
}

export class TunnelReconciler {
  private desired: TunnelDesired = {
    poolsInUse: false,
    tunnels: {},
    mtu: { vxlan: false, ipip: false, ifacePattern: "" },
  };

  constructor(
    private readonly links: TunnelLinks,
    private readonly o: TunnelReconcilerOptions = {},
  ) {}

  setDesired(d: TunnelDesired): void {
    this.desired = d;
  }

  async apply(): Promise<TunnelApplyResult> {
    const warnings: string[] = [];
    let changes = 0;
    const d = this.desired;
    let hostMtu = DEFAULT_HOST_MTU;
    // One dump answers the host MTU and our tunnel devices; if it fails, each is asked on its own.
    const devices = await this.links.list().catch(() => undefined);
    try {
      const pattern = d.mtu.ifacePattern || "^$";
      const found = devices ? smallestUpMtu(devices, pattern) : await this.links.smallestMtu(pattern);
      if (found === undefined && d.poolsInUse) {
        warnings.push(`no up interface matches mtuIfacePattern ${pattern}: host MTU defaults to ${DEFAULT_HOST_MTU}`);
      }
      hostMtu = found ?? DEFAULT_HOST_MTU;
    } catch (e) {
      warnings.push(`host MTU: ${(e as Error).message}`);
    }
    const mtu = resolveMtu(d.mtu, hostMtu);
    const step = async (what: string, f: () => Promise<void>) => {
      try {
        await f();
        changes++;
        return true;
      } catch (e) {
        warnings.push(`${what}: ${(e as Error).message}`);
        return false;
      }
    };

    const present = devices && new Map(devices.map((l) => [l.name, l]));
    for (const name of OWNED_TUNNELS) {
      const want = d.tunnels[name];
      let have = present
        ? present.get(name)
        : await this.links.get(name).catch((e: Error) => {
            warnings.push(`${name}: ${e.message}`);
            return undefined;
          });
      if (!want) {
        if (have?.kind === "vxlan" && name !== "tunl0") await step(`delete ${name}`, () => this.links.delete(name));
        else if (have)
          for (const a of have.addrs) await step(`${name}: remove ${a}`, () => this.links.deleteAddress(name, a));
        continue;
      }
      const devMtu = want.mtu ?? hostMtu - overheadOf(want);
      if (want.kind === "vxlan") {
        const local = want.localIp ?? "";
        const parent = present
          ? devices?.find((l) => l.addrs.some((a) => a.slice(0, a.lastIndexOf("/")) === local))?.name
          : await this.links.deviceWithAddress(local).catch(() => undefined);
        if (!parent) {
          warnings.push(`${name} waits: no device holds the node address ${want.localIp}`);
          continue;
        }
        const incompatible =
          have &&
          (have.kind !== "vxlan" ||
            have.vni !== want.vni ||
            have.port !== want.port ||
            have.local !== want.localIp ||
            (have.parent !== undefined && have.parent !== parent) ||
            have.learning !== false ||
            have.mac?.toLowerCase() !== want.mac);
        if (incompatible && (await step(`re-create ${name}`, () => this.links.delete(name)))) have = undefined;
        if (!have) {
          const spec = {
            name,
            vni: want.vni ?? 4096,
            port: want.port ?? 4789,
            localIp: want.localIp ?? "",
            parent,
            mac: want.mac ?? "",
            mtu: devMtu,
          };
          if (!(await step(`create ${name}`, () => this.links.addVxlan(spec)))) continue;
          have = await this.links.get(name);
          if (!have) continue;
        }
      } else if (!have) {
        if (!(await step(`create ${name}`, () => this.links.addIpip(name)))) continue;
        have = await this.links.get(name);
        if (!have) continue;
      }
      if (have.mtu !== devMtu) await step(`${name} mtu ${devMtu}`, () => this.links.setMtu(name, devMtu));
      if (!have.up) await step(`${name} up`, () => this.links.setUp(name));
      const addr = `${want.address}/${want.address.includes(":") ? 128 : 32}`;
      for (const a of have.addrs)
        if (a !== addr) await step(`${name}: remove ${a}`, () => this.links.deleteAddress(name, a));
      if (!have.addrs.includes(addr)) await step(`${name}: add ${addr}`, () => this.links.addAddress(name, addr));
    }

    let mtuFileWritten: string | undefined;
    if (d.poolsInUse && this.o.mtuFile) {
      try {
        if (await writeIfChanged(this.o.mtuFile, `${mtu.podMtu}`)) {
          mtuFileWritten = this.o.mtuFile;
          changes++;
        }
      } catch (e) {
        warnings.push(`MTU file ${this.o.mtuFile}: ${(e as Error).message}`);
      }
    }
    return { changes, warnings, mtu, mtuFileWritten };
  }
}

/** Atomic write (temp file + rename) when the content differs; true when written. */
async function writeIfChanged(path: string, text: string): Promise<boolean> {
  const old = await readFile(path, "utf8").catch(() => undefined);
  if (old?.trim() === text) return false;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
  return true;
}
