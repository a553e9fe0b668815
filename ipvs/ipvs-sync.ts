// The dataplane's IPVS step: the dummy interface's addresses and the IPVS
// table, in the order that keeps traffic flowing:
//   1. create the dummy device if missing, bind new service IPs
//   2. reconcile the IPVS table (ours: desired addresses plus those still bound,
//      so the virtual services of a deleted Service go too)
//   3. unbind service IPs no longer desired (after their virtual services went)

import type { IpvsDesired } from "../calc-graph/services/ipvs-desired.js";
import type { IpvsBackend } from "./backend.js";
import { type IpvsApplyResult, IpvsReconciler } from "./ipvs-reconciler.js";
import type { IpvsService } from "./model.js";
import type { ServiceAddressDevice } from "./service-device.js";

export interface IpvsSyncResult extends IpvsApplyResult {
  readonly addressesBound: number;
  readonly addressesUnbound: number;
}

export class IpvsSync {
  private readonly reconciler: IpvsReconciler;

  constructor(
    backend: IpvsBackend,
    private readonly device: ServiceAddressDevice,
  ) {
    this.reconciler = new IpvsReconciler(backend);
  }

  /** Real servers draining at weight 0: the step must run again until this is 0. */
  get draining(): number {
    return this.reconciler.draining;
  }

  async apply(d: IpvsDesired): Promise<IpvsSyncResult> {
    let bound = await this.device.addresses(d.device);
    if (bound === undefined) {
      await this.device.create(d.device);
      bound = [];
    }
    const have = new Set(bound);
    const wanted = new Set(d.boundAddresses);
    let addressesBound = 0;
    for (const ip of d.boundAddresses) {
      if (have.has(ip)) continue;
      await this.device.add(d.device, ip);
      addressesBound++;
    }
    this.reconciler.setDesired(new Map<string, IpvsService>(Object.entries(d.services)), {
      serviceAddresses: new Set([...wanted, ...have]),
      nodeAddresses: new Set(d.nodeAddresses),
      nodePortRange: d.nodePortRange,
    });
    const r = await this.reconciler.apply();
    let addressesUnbound = 0;
    for (const ip of have) {
      if (wanted.has(ip)) continue;
      await this.device.remove(d.device, ip);
      addressesUnbound++;
    }
    return { ...r, addressesBound, addressesUnbound, changes: r.changes + addressesBound + addressesUnbound };
  }
}
