// Keeps the permanent neighbour and FDB entries on our tunnel devices equal
// to the desired ones: read each device's entries, replace what is missing
// or different, delete the permanent entries no longer wanted. Devices other
// than ours are never read or written; a device that is not there yet makes
// its entries pending (retried at the next apply).

import type { FdbEntry, NeighborEntry } from "./neighbor.js";
import type { NetlinkNeighbors } from "./netlink-neighbors.js";
import { errnoCode } from "./netlink-routes.js";

export interface NeighborApplyResult {
  readonly written: number;
  readonly removed: number;
  /** Devices missing while entries wait for them. */
  readonly pendingDevices: string[];
  readonly failed: { readonly entry: string; readonly error: string }[];
}

export class NeighborReconciler {
  private neighbors: NeighborEntry[] = [];
  private fdb: FdbEntry[] = [];
  pendingDevices: string[] = [];

  constructor(
    private readonly nl: NetlinkNeighbors,
    /** The devices we own entries on. */
    private readonly devices: readonly string[],
  ) {}

  setDesired(neighbors: Record<string, NeighborEntry>, fdb: Record<string, FdbEntry>): void {
    this.neighbors = Object.values(neighbors).filter((n) => this.devices.includes(n.dev));
    this.fdb = Object.values(fdb).filter((f) => this.devices.includes(f.dev));
  }

  async apply(): Promise<NeighborApplyResult> {
    let written = 0;
    let removed = 0;
    const pending: string[] = [];
    const failed: { entry: string; error: string }[] = [];
    const attempt = async (entry: string, f: () => Promise<void>) => {
      try {
        await f();
        return true;
      } catch (e) {
        failed.push({ entry, error: (e as Error).message });
        return false;
      }
    };
    for (const dev of this.devices) {
      const wantN = this.neighbors.filter((n) => n.dev === dev);
      const wantF = this.fdb.filter((f) => f.dev === dev);
      let haveN: NeighborEntry[];
      let haveF: FdbEntry[];
      try {
        [haveN, haveF] = [await this.nl.listNeighbors(dev), await this.nl.listFdb(dev)];
      } catch (e) {
        if (errnoCode(e) === "ENODEV") {
          if (wantN.length || wantF.length) pending.push(dev);
          continue;
        }
        failed.push({ entry: dev, error: (e as Error).message });
        continue;
      }
      const nByIp = new Map(haveN.map((n) => [n.ip, n]));
      for (const n of wantN) {
        if (nByIp.get(n.ip)?.mac === n.mac) continue;
        if (await attempt(`neighbour ${n.ip}`, () => this.nl.setNeighbor(n))) written++;
      }
      const wantIps = new Set(wantN.map((n) => n.ip));
      for (const n of haveN) {
        if (!wantIps.has(n.ip) && (await attempt(`neighbour ${n.ip}`, () => this.nl.deleteNeighbor(n)))) removed++;
      }
      // Stale FDB entries go first: a replace of the same MAC would move its destination under us.
      const fKey = (f: FdbEntry) => `${f.mac} ${f.dst}`;
      const wantKeys = new Set(wantF.map(fKey));
      for (const f of haveF) {
        if (!wantKeys.has(fKey(f)) && (await attempt(`fdb ${f.mac}`, () => this.nl.deleteFdb(f)))) removed++;
      }
      const haveKeys = new Set(haveF.map(fKey));
      for (const f of wantF) {
        if (haveKeys.has(fKey(f))) continue;
        if (await attempt(`fdb ${f.mac}`, () => this.nl.setFdb(f))) written++;
      }
    }
    this.pendingDevices = pending;
    return { written, removed, pendingDevices: pending, failed };
  }
}
