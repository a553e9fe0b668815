// The IPVS proxy mode's desired state, pure: from the service ports, this
// node's addresses and the options, the virtual services with their real
// servers, and the service addresses to bind on our dummy interface. The IP
// sets and the few iptables rules that masquerade for it are in ipvs-rules.ts.
//
// Virtual services per ServicePort (kube-proxy's IPVS proxier does the same):
//   ClusterIP:port                      → cluster endpoints
//   each ExternalIP:port, each LB IP:port → external endpoints
//   each node address (same family):NodePort → external endpoints
// "cluster" and "external" are categorize.ts's sets (traffic policies, the
// fallback to serving-and-terminating endpoints). Every endpoint used gets
// weight 1; an endpoint that is terminating but not used (ready ones remain)
// stays at weight 0 while its EndpointSlice still lists it, so connections it
// has finish and it gets no new ones (graceful termination); the reconciler
// removes it once the slice drops it. Scheduler from FELIX_IPVSSCHEDULER;
// sessionAffinity ClientIP becomes persistence with its timeout.
//
// A virtual service without real servers is still programmed: IPVS answers
// its connections with ICMP port-unreachable, as REJECT would.

import {
  compareIps,
  type IpvsService,
  type RealServer,
  serviceKey,
  sortRealServers,
  sortServices,
} from "../../ipvs/model.js";
import { categorizeEndpoints } from "./categorize.js";
import type { ServiceEndpoint, ServicePort } from "./model.js";

/** Our dummy interface holding the service IPs (kube-proxy's kube-ipvs0), named like our other devices. */
export const IPVS_DEVICE = "cali-ipvs0";

/** Kubernetes' default --service-node-port-range (Felix: KubeNodePortRanges "30000:32767"). */
export const DEFAULT_NODE_PORT_RANGE: readonly [number, number] = [30000, 32767];

export interface IpvsOptions {
  /** ipvsadm scheduler (FELIX_IPVSSCHEDULER, kube-proxy's --ipvs-scheduler), default rr. */
  readonly scheduler?: string;
  /** NodePorts are ours only in this range (virtual services on node addresses). */
  readonly nodePortRange?: readonly [number, number];
  /** The dummy interface's name. */
  readonly device?: string;
}

export interface IpvsDesired {
  readonly device: string;
  /** Virtual services keyed by `tcp:10.96.0.1:443`, inserted in ipvsadm's listing order. */
  readonly services: Readonly<Record<string, IpvsService>>;
  /** Cluster, external and load-balancer IPs to bind on `device`, sorted. */
  readonly boundAddresses: readonly string[];
  /** Node addresses NodePorts were programmed on (ownership of node-address services). */
  readonly nodeAddresses: readonly string[];
  readonly nodePortRange: readonly [number, number];
}

function realServers(used: readonly ServiceEndpoint[], pool: readonly ServiceEndpoint[]): RealServer[] {
  const inUse = new Set(used);
  const out: RealServer[] = used.map((e) => ({ address: e.ip, port: e.port, weight: 1, forward: "masq" }));
  for (const e of pool) {
    if (e.terminating && !inUse.has(e)) out.push({ address: e.ip, port: e.port, weight: 0, forward: "masq" });
  }
  return out;
}

const family = (ip: string) => (ip.includes(":") ? 6 : 4);

interface PortEntries {
  /** Scheduler and node addresses the entries were computed with. */
  readonly context: string;
  /** In claim order: ClusterIP, external IPs, LB IPs, node addresses; real servers sorted. */
  readonly entries: readonly { readonly entry: IpvsService; readonly bind: boolean }[];
}

/**
 * Per ServicePort object: its virtual services. The services index keeps an
 * unchanged ServicePort's object, so a change to one service recomputes one
 * service's entries (the assembly below stays linear, but cheap).
 */
const memo = new WeakMap<ServicePort, PortEntries>();

function portEntries(sp: ServicePort, scheduler: string, nodeAddrs: readonly string[]): PortEntries["entries"] {
  const context = `${scheduler} ${nodeAddrs.join(" ")}`;
  const hit = memo.get(sp);
  if (hit?.context === context) return hit.entries;
  const eps = categorizeEndpoints(sp);
  const local = sp.endpoints.filter((e) => e.local);
  const cluster = sortRealServers(realServers(eps.cluster, sp.internalPolicyLocal ? local : sp.endpoints));
  const external = sortRealServers(realServers(eps.external, sp.externalPolicyLocal ? local : sp.endpoints));
  const entries: { entry: IpvsService; bind: boolean }[] = [];
  const add = (address: string, port: number, servers: RealServer[], bind: boolean) => {
    if (!address || family(address) !== sp.family) return;
    const service = {
      protocol: sp.protocol,
      address,
      port,
      scheduler,
      ...(sp.affinityTimeoutSeconds ? { persistenceTimeout: sp.affinityTimeoutSeconds } : {}),
    };
    entries.push({ entry: { service, realServers: servers }, bind });
  };
  if (sp.clusterIP && sp.clusterIP !== "None") add(sp.clusterIP, sp.port, cluster, true);
  for (const ip of sp.externalIPs) add(ip, sp.port, external, true);
  for (const ip of sp.loadBalancerIPs) add(ip, sp.port, external, true);
  if (sp.nodePort) for (const ip of nodeAddrs) add(ip, sp.nodePort, external, false);
  memo.set(sp, { context, entries });
  return entries;
}

/** The desired IPVS table and bound addresses; deterministic for any input order. */
export function desiredIpvs(
  servicePorts: readonly ServicePort[],
  nodeAddresses: readonly string[],
  opts: IpvsOptions = {},
): IpvsDesired {
  const scheduler = opts.scheduler ?? "rr";
  const nodeAddrs = [...new Set(nodeAddresses)].sort(compareIps);
  const nodeSet = new Set(nodeAddrs);
  const services = new Map<string, IpvsService>();
  const bound = new Set<string>();
  const sorted = [...servicePorts].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.family - b.family));
  for (const sp of sorted) {
    for (const { entry, bind } of portEntries(sp, scheduler, nodeAddrs)) {
      const key = serviceKey(entry.service);
      if (services.has(key)) continue; // two services claim one address:port: the first by key wins
      services.set(key, entry);
      // A node's own address is already local: never move it onto the dummy device.
      if (bind && !nodeSet.has(entry.service.address)) bound.add(entry.service.address);
    }
  }
  const ordered = sortServices([...services.values()]);
  return {
    device: opts.device ?? IPVS_DEVICE,
    services: Object.fromEntries(ordered.map((e) => [serviceKey(e.service), e])),
    boundAddresses: [...bound].sort(compareIps),
    nodeAddresses: nodeAddrs,
    nodePortRange: opts.nodePortRange ?? DEFAULT_NODE_PORT_RANGE,
  };
}

/** The desired services as the table the reconciler takes. */
export function ipvsDesiredTable(d: IpvsDesired): Map<string, IpvsService> {
  return new Map(Object.entries(d.services));
}
