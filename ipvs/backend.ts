// Kernel access for IPVS: list the table, apply a batch of changes. The real
// implementation drives ipvsadm (ipvsadm-backend.ts); the fake keeps the table
// in memory with the kernel's rules (fake-backend.ts).

import type { IpvsTable, KernelRealServer, RealServer, VirtualService } from "./model.js";

export type IpvsChange =
  | { readonly op: "add-service" | "edit-service" | "delete-service"; readonly service: VirtualService }
  | {
      readonly op: "add-server" | "edit-server" | "delete-server";
      readonly service: VirtualService;
      readonly server: RealServer;
    };

export interface IpvsBackend {
  /**
   * The kernel's table. With `counters`, real servers carry their active and
   * inactive connection counts (a costlier read, done only to decide draining).
   */
  list(counters?: boolean): Promise<IpvsTable<KernelRealServer>>;
  /** Applies the changes in order; stops at the first the kernel refuses (IpvsError). */
  apply(changes: readonly IpvsChange[]): Promise<void>;
}

export class IpvsError extends Error {}

/** The kernel has no IPVS (no ip_vs module): the IPVS proxy mode cannot work here. */
export class IpvsUnavailableError extends IpvsError {}
