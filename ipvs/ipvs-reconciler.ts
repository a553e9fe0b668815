// Reconciles the kernel's IPVS table with the desired one: read the table,
// diff, apply the smallest change in one ipvsadm -R batch.
//
// Ownership: a virtual service is ours when its address is one of our
// service addresses (the IPs on our dummy interface: desired ones plus those
// still bound from before, so a deleted Service's VS goes too), or one of our
// node addresses with a port in the NodePort range. Every other virtual
// service (another load balancer's, an operator's) is never touched.
//
// Graceful termination (kube-proxy's, simplified): a real server that leaves
// the desired set of a virtual service that stays
//   - UDP/SCTP: is deleted at once (no connection to finish);
//   - TCP with no connections (ActiveConn + InActConn = 0): is deleted;
//   - TCP with connections: is set to weight 0 (quiescent: no new
//     connections, established ones continue) and deleted by a later apply
//     once its connections are gone; `draining` counts these.
// A real server that comes back while draining is simply edited back to its
// desired weight. A virtual service that is no longer desired is deleted with
// its real servers at once (the Service is gone: nothing to drain to).
// Connection counters cost a second read (ipvsadm -L -n), done only when some
// TCP real server is leaving.

import type { IpvsBackend, IpvsChange } from "./backend.js";
import {
  type IpvsTable,
  type KernelRealServer,
  type RealServer,
  realServerKey,
  sameServiceSettings,
  serviceKey,
  type VirtualService,
} from "./model.js";

/** Which kernel virtual services are ours to change. */
export interface IpvsOwnership {
  /** Cluster, external and load-balancer IPs bound on our dummy interface. */
  readonly serviceAddresses: ReadonlySet<string>;
  /** This node's addresses: ours only with a port in `nodePortRange`. */
  readonly nodeAddresses: ReadonlySet<string>;
  /** Inclusive [first, last]. */
  readonly nodePortRange: readonly [number, number];
}

export interface IpvsPlan {
  readonly changes: readonly IpvsChange[];
  /** TCP real servers left at weight 0 until their connections end. */
  readonly draining: number;
}

export interface IpvsApplyResult {
  readonly servicesAdded: number;
  readonly servicesEdited: number;
  readonly servicesDeleted: number;
  readonly serversAdded: number;
  /** Weight or forwarding changes, drains included. */
  readonly serversEdited: number;
  readonly serversDeleted: number;
  /** Real servers set to weight 0 by this apply. */
  readonly serversDrained: number;
  readonly draining: number;
  /** Kernel writes (changes applied). */
  readonly changes: number;
}

export function ownsService(o: IpvsOwnership, s: Pick<VirtualService, "address" | "port">): boolean {
  if (o.serviceAddresses.has(s.address)) return true;
  return o.nodeAddresses.has(s.address) && s.port >= o.nodePortRange[0] && s.port <= o.nodePortRange[1];
}

/** Whether planning needs connection counters: some TCP real server of ours would leave a kept service. */
export function needsCounters(kernel: IpvsTable, desired: IpvsTable, o: IpvsOwnership): boolean {
  for (const [key, k] of kernel) {
    const d = desired.get(key);
    if (!d || k.service.protocol !== "tcp" || !ownsService(o, k.service)) continue;
    const wanted = new Set(d.realServers.map(realServerKey));
    if (k.realServers.some((r) => !wanted.has(realServerKey(r)))) return true;
  }
  return false;
}

/**
 * The changes that turn `kernel` into `desired` for the services we own.
 * Desired services are ours by definition. Kernel real servers without
 * counters are treated as busy (drained, not deleted).
 */
export function planIpvs(kernel: IpvsTable<KernelRealServer>, desired: IpvsTable, o: IpvsOwnership): IpvsPlan {
  const delServices: IpvsChange[] = [];
  const services: IpvsChange[] = [];
  const delServers: IpvsChange[] = [];
  const servers: IpvsChange[] = [];
  let draining = 0;
  for (const [key, k] of kernel) {
    if (!desired.has(key) && ownsService(o, k.service)) delServices.push({ op: "delete-service", service: k.service });
  }
  for (const [key, d] of desired) {
    const k = kernel.get(key);
    const service = d.service;
    if (!k) services.push({ op: "add-service", service });
    else if (!sameServiceSettings(k.service, service)) services.push({ op: "edit-service", service });
    const have = new Map((k?.realServers ?? []).map((r) => [realServerKey(r), r]));
    for (const r of d.realServers) {
      const old = have.get(realServerKey(r));
      have.delete(realServerKey(r));
      if (!old) servers.push({ op: "add-server", service, server: r });
      else if (old.weight !== r.weight || old.forward !== r.forward) {
        servers.push({ op: "edit-server", service, server: r });
      }
    }
    for (const r of have.values()) {
      const server: RealServer = { address: r.address, port: r.port, weight: r.weight, forward: r.forward };
      const idle = r.activeConns !== undefined && (r.activeConns ?? 0) + (r.inactiveConns ?? 0) === 0;
      if (service.protocol !== "tcp" || idle) delServers.push({ op: "delete-server", service, server });
      else {
        if (r.weight !== 0) servers.push({ op: "edit-server", service, server: { ...server, weight: 0 } });
        draining++;
      }
    }
  }
  return { changes: [...delServices, ...services, ...delServers, ...servers], draining };
}

export class IpvsReconciler {
  private desired: IpvsTable = new Map();
  private owns: IpvsOwnership = { serviceAddresses: new Set(), nodeAddresses: new Set(), nodePortRange: [0, -1] };
  private drainingNow = 0;

  constructor(readonly backend: IpvsBackend) {}

  /** Real servers waiting at weight 0 for their connections to end (a later apply removes them). */
  get draining(): number {
    return this.drainingNow;
  }

  setDesired(table: IpvsTable, owns: IpvsOwnership): void {
    this.desired = table;
    this.owns = owns;
  }

  async apply(): Promise<IpvsApplyResult> {
    let kernel: IpvsTable<KernelRealServer> = await this.backend.list();
    if (needsCounters(kernel, this.desired, this.owns)) kernel = await this.backend.list(true);
    const plan = planIpvs(kernel, this.desired, this.owns);
    await this.backend.apply(plan.changes);
    this.drainingNow = plan.draining;
    const n = (op: IpvsChange["op"]) => plan.changes.filter((c) => c.op === op).length;
    const drained = plan.changes.filter(
      (c) => c.op === "edit-server" && c.server.weight === 0 && !isDesired(this.desired, c.service, c.server),
    ).length;
    return {
      servicesAdded: n("add-service"),
      servicesEdited: n("edit-service"),
      servicesDeleted: n("delete-service"),
      serversAdded: n("add-server"),
      serversEdited: n("edit-server"),
      serversDeleted: n("delete-server"),
      serversDrained: drained,
      draining: plan.draining,
      changes: plan.changes.length,
    };
  }
}

function isDesired(t: IpvsTable, s: VirtualService, r: RealServer): boolean {
  return !!t.get(serviceKey(s))?.realServers.some((x) => realServerKey(x) === realServerKey(r));
}
