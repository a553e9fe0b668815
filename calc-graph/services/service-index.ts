// Services ⋈ EndpointSlices, incrementally: the current ServicePorts of each
// service, and which services a batch changed. A Service update dirties that
// service; an EndpointSlice update dirties the service it belongs to (and the
// one it belonged to before, if its label moved). Nothing else is touched, so
// the renderers re-render only those services (kube-proxy's partial sync).
//
// It also keeps the cluster's pod CIDRs, what "from inside the cluster" means
// for masquerading: the enabled IP pools' CIDRs when any are given, else every
// node's spec.podCIDRs.

import { familyOf } from "../conversion/cidr.js";
import type { IpVersion } from "../model.js";
import { sameList, sameMembers } from "../same.js";
import type { ConvertedService, ConvertedSlice } from "./convert.js";
import { ClusterIpClaims, inCidrs } from "./frontend-claims.js";
import type { NodePortAddresses, ServiceEndpoint, ServicePort, TrafficDistribution } from "./model.js";
import { endpointString } from "./names.js";
import { nodePortIPs } from "./node-port-addresses.js";
import { serviceEndpoint } from "./service-endpoint.js";
import { DEFAULT_MAX_SERVICE_ENDPOINT_PORTS, oversize } from "./service-size.js";
import { applyTopology } from "./topology.js";

/** Felix's KubeNodePortRanges default (the API server's default service-node-port-range). */
export const DEFAULT_NODE_PORT_RANGES: readonly (readonly [number, number])[] = [[30000, 32767]];

/** FelixConfiguration's kubeNodePortRanges as [min, max] pairs; unset or empty: the default. */
export function nodePortRangesOf(
  ranges: readonly { min: number; max: number }[] | undefined,
): readonly (readonly [number, number])[] {
  return ranges?.length ? ranges.map((r) => [r.min, r.max] as const) : DEFAULT_NODE_PORT_RANGES;
}

/** `<namespace>/<service>`. */
export type ServiceId = string;

export class ServiceIndex {
  private readonly services = new Map<ServiceId, ConvertedService>();
  private readonly slices = new Map<string, ConvertedSlice>();
  private readonly slicesByService = new Map<ServiceId, Set<string>>();
  private dirty = new Set<ServiceId>();
  private readonly nodeCIDRs = new Map<string, readonly string[]>();
  private poolCIDRs: readonly string[] | undefined;
  private cidrsDirty = false;
  private localIPs: readonly string[] = [];
  private localIPsDirty = false;
  /** Every node's addresses, and the host's gateways: no service may claim them as its own. */
  private readonly nodeIPs = new Map<string, readonly string[]>();
  private gatewayIPs: readonly string[] = [];
  private claimedIPs: ReadonlySet<string> = new Set();
  private readonly clusterClaims = new ClusterIpClaims();
  /** Services with an external or LB IP (the only ones `claimedIPs` can change). */
  private readonly withFrontends = new Set<ServiceId>();
  /** Why a service lost frontends to `claimedIPs`, per service (as of its last `ports`). */
  private readonly refusals = new Map<ServiceId, string>();
  /**
   * Felix's KubeNodePortRanges (the API server's service-node-port-range): a
   * nodePort or healthCheckNodePort outside them would DNAT or bind a port
   * another node daemon owns (22, 10250, 10256…), so it is left out and reported.
   */
  setNodePortRanges(ranges: readonly (readonly [number, number])[]): void {
    const text = JSON.stringify(ranges);
    if (text === this.nodePortRangesText) return;
    this.nodePortRanges = ranges;
    this.nodePortRangesText = text;
    for (const [id, svc] of this.services) {
      if (svc.ports.some((t) => t.nodePort !== undefined || t.healthCheckNodePort !== undefined)) this.dirty.add(id);
    }
  }

  private inNodePortRange(port: number): boolean {
    return this.nodePortRanges.some(([min, max]) => port >= min && port <= max);
  }

  /** This node's topology.kubernetes.io/zone label. */
  private zone: string | undefined;
  /** Services whose endpoints carry topology hints (the only ones a zone change can move). */
  private readonly withHints = new Set<ServiceId>();

  /** This node's InternalIPs in the Node's order (the first per family is its primary IP). */
  private nodeIPsInOrder: readonly string[] = [];
  /** This host's addresses, when read from the kernel. */
  private hostAddrs: readonly string[] | undefined;
  private nodePortIPsText = "";
  private nodePortIPsDirty = false;
  private hostAddrsDirty = false;
  /** KubeNodePortRanges: node ports and health check ports outside them are refused. */
  private nodePortRanges: readonly (readonly [number, number])[] = DEFAULT_NODE_PORT_RANGES;
  private nodePortRangesText = JSON.stringify(DEFAULT_NODE_PORT_RANGES);

  constructor(
    private readonly nodeName: string,
    private readonly nodePortAddresses: NodePortAddresses = { kind: "all" },
    /** FELIX_SERVICEMAXENDPOINTPORTS: a service with more (port, endpoint) pairs is left out whole. */
    private readonly maxEndpointPorts = DEFAULT_MAX_SERVICE_ENDPOINT_PORTS,
  ) {}

  /** This host's addresses (from the kernel): --nodeport-addresses CIDRs select among them. */
  setHostAddresses(addrs: readonly string[]): void {
    const next = [...new Set(addrs)].sort();
    if (this.hostAddrs && sameList(next, this.hostAddrs)) return;
    this.hostAddrs = next;
    this.hostAddrsDirty = true;
    this.updateNodePortIPs();
  }

  /**
   * Where the IPVS mode serves node ports: the --nodeport-addresses, else every
   * local address but loopback and IPv6 link-local (kube-proxy's
   * GetAllLocalAddresses); the Node's InternalIPs while the host's are unknown.
   */
  ipvsNodeAddresses(): string[] {
    const local = this.hostAddrs
      ? this.hostAddrs.filter((ip) => !/^127\./.test(ip) && ip !== "::1" && !/^fe[89ab][0-9a-f]:/i.test(ip))
      : this.localIPs;
    return ([4, 6] as const).flatMap((v) => [
      ...(this.nodePortIPs(v) ?? local.filter((ip) => ip.includes(":") === (v === 6))),
    ]);
  }

  /** The addresses node ports answer on, per family; undefined: every local address. */
  nodePortIPs(v: IpVersion): readonly string[] | undefined {
    return nodePortIPs(this.nodePortAddresses, v, this.nodeIPsInOrder, this.hostAddrs);
  }

  private updateNodePortIPs(): void {
    const text = JSON.stringify([this.nodePortIPs(4), this.nodePortIPs(6)]);
    if (text !== this.nodePortIPsText) this.nodePortIPsDirty = true;
    this.nodePortIPsText = text;
  }

  updateService(id: ServiceId, svc: ConvertedService | null): void {
    const addrs = (c: ConvertedService | null | undefined) => ({
      cluster: c?.ports.map((t) => t.clusterIP) ?? [],
      external: c?.ports.flatMap((t) => [...t.externalIPs, ...t.loadBalancerIPs]) ?? [],
    });
    for (const u of this.clusterClaims.update(id, addrs(this.services.get(id)), addrs(svc))) this.dirty.add(u);
    if (svc) this.services.set(id, svc);
    else this.services.delete(id);
    if (svc?.ports.some((t) => t.externalIPs.length > 0 || t.loadBalancerIPs.length > 0)) this.withFrontends.add(id);
    else this.withFrontends.delete(id);
    this.dirty.add(id);
  }

  /** `key` = `<namespace>/<slice name>`. */
  updateSlice(key: string, slice: ConvertedSlice | null): void {
    const old = this.slices.get(key);
    if (old) {
      const oldId = `${old.namespace}/${old.service}`;
      this.slicesByService.get(oldId)?.delete(key);
      if (this.slicesByService.get(oldId)?.size === 0) this.slicesByService.delete(oldId);
      this.dirty.add(oldId);
    }
    if (slice) {
      const id = `${slice.namespace}/${slice.service}`;
      this.slices.set(key, slice);
      const set = this.slicesByService.get(id) ?? new Set<string>();
      this.slicesByService.set(id, set);
      set.add(key);
      this.dirty.add(id);
    } else {
      this.slices.delete(key);
    }
  }

  /** This node's InternalIPs (LB source ranges that contain one also admit the LB IP as a source). */
  setLocalNodeIPs(ips: readonly string[]): void {
    const primaryBefore = this.primaryNodeIPs();
    this.nodeIPsInOrder = [...ips];
    this.updateNodePortIPs();
    const sorted = [...new Set(ips)].sort();
    if (!sameList(primaryBefore, this.primaryNodeIPs())) this.localIPsDirty = true;
    if (sameList(sorted, this.localIPs)) return;
    this.localIPs = sorted;
    this.localIPsDirty = true;
  }

  /**
   * This node's primary IP per family (the Node's first InternalIP of each), as
   * kube-proxy's nodeIP: a source range holding it lets the node reach an LB IP.
   */
  primaryNodeIPs(): string[] {
    return ([4, 6] as const).flatMap((v) => {
      const ip = this.nodeIPsInOrder.find((a) => a.includes(":") === (v === 6));
      return ip ? [ip] : [];
    });
  }

  /** This node's topology.kubernetes.io/zone (undefined: no label). */
  setLocalZone(zone: string | undefined): void {
    if (zone === this.zone) return;
    this.zone = zone;
    for (const id of this.withHints) this.dirty.add(id);
  }

  localNodeIPs(): readonly string[] {
    return this.localIPs;
  }

  /** A node's addresses (null when the node went away): externalIPs and LB IPs equal to one are refused. */
  updateNodeIPs(node: string, ips: readonly string[] | null): void {
    if (ips && ips.length > 0) this.nodeIPs.set(node, ips);
    else this.nodeIPs.delete(node);
    this.updateClaimed();
  }

  /** This host's default-route gateways, when known: refused as externalIPs and LB IPs too. */
  setGatewayIPs(ips: readonly string[]): void {
    this.gatewayIPs = [...ips];
    this.updateClaimed();
  }

  private updateClaimed(): void {
    const next = new Set(this.gatewayIPs);
    for (const ips of this.nodeIPs.values()) for (const ip of ips) next.add(ip);
    if (sameMembers(next, this.claimedIPs)) return;
    const before = this.claimedIPs;
    this.claimedIPs = next;
    // Only services with an external or LB IP can change.
    for (const id of this.withFrontends) {
      const ips = this.services.get(id)!.ports.flatMap((t) => [...t.externalIPs, ...t.loadBalancerIPs]);
      if (ips.some((ip) => before.has(ip) !== next.has(ip))) this.dirty.add(id);
    }
  }

  /** Why the service's externalIPs or LB IPs were refused, as of its last `ports`. */
  refusal(id: ServiceId): string | undefined {
    return this.refusals.get(id);
  }

  /** A node's spec.podCIDRs (null when the node went away). */
  updateNodeCIDRs(node: string, cidrs: readonly string[] | null): void {
    const before = this.podCIDRs();
    if (cidrs && cidrs.length > 0) this.nodeCIDRs.set(node, cidrs);
    else this.nodeCIDRs.delete(node);
    if (!sameList(before, this.podCIDRs())) this.podCidrsChanged();
  }

  /**
   * The enabled IP pools' CIDRs (canonical text). While any are set they are
   * the cluster's pod CIDRs; undefined or [] falls back to the nodes' podCIDRs.
   */
  setPoolCIDRs(cidrs: readonly string[] | undefined): void {
    const before = this.podCIDRs();
    this.poolCIDRs = cidrs && cidrs.length > 0 ? [...new Set(cidrs)].sort() : undefined;
    if (!sameList(before, this.podCIDRs())) this.podCidrsChanged();
  }

  /** External/LB IPs inside the pod CIDRs are refused: those services are looked at again. */
  private podCidrsChanged(): void {
    this.cidrsDirty = true;
    for (const id of this.withFrontends) this.dirty.add(id);
  }

  /** The cluster's pod CIDRs, both families, sorted. */
  podCIDRs(): string[] {
    if (this.poolCIDRs) return [...this.poolCIDRs];
    const all = new Set<string>();
    for (const cs of this.nodeCIDRs.values()) for (const c of cs) all.add(c);
    return [...all].sort();
  }

  podCIDRsOf(v: IpVersion): string[] {
    return this.podCIDRs().filter((c) => familyOf(c) === v);
  }

  /** Services changed since the last call, and whether the pod CIDRs changed. */
  takeDirty(): {
    services: Set<ServiceId>;
    podCIDRs: boolean;
    localIPs: boolean;
    nodePortIPs: boolean;
    hostAddresses: boolean;
  } {
    const out = {
      services: this.dirty,
      podCIDRs: this.cidrsDirty,
      localIPs: this.localIPsDirty,
      nodePortIPs: this.nodePortIPsDirty,
      hostAddresses: this.hostAddrsDirty,
    };
    this.nodePortIPsDirty = false;
    this.hostAddrsDirty = false;
    this.dirty = new Set();
    this.cidrsDirty = false;
    this.localIPsDirty = false;
    return out;
  }

  /** Problems of the service's slices are reported by the converter; this is pure data. */
  ports(id: ServiceId): ServicePort[] {
    this.refusals.delete(id);
    const svc = this.services.get(id);
    if (!svc) return [];
    const slices = [...(this.slicesByService.get(id) ?? [])]
      .sort()
      .map((k) => this.slices.get(k)!)
      .filter(Boolean);
    const refused = new Set<string>();
    const captured = new Set<string>();
    const podCidrs = this.withFrontends.has(id) ? this.podCIDRs() : [];
    const capturing = (ip: string) => this.clusterClaims.isClusterIP(ip) || inCidrs(ip, podCidrs);
    const own = (ips: readonly string[]) => {
      if (!ips.some((ip) => this.claimedIPs.has(ip) || capturing(ip))) return ips;
      for (const ip of ips) if (this.claimedIPs.has(ip)) refused.add(ip);
      for (const ip of ips) if (!this.claimedIPs.has(ip) && capturing(ip)) captured.add(ip);
      return ips.filter((ip) => !this.claimedIPs.has(ip) && !capturing(ip));
    };
    let hinted = false;
    const outOfRange = new Set<string>();
    const inRange = (port: number | undefined, what: string) => {
      if (port === undefined || this.inNodePortRange(port)) return true;
      outOfRange.add(`${what} ${port}`);
      return false;
    };
    const out = svc.ports.map((t) => {
      const eps = this.endpointsFor(t, slices);
      if (eps.some((e) => e.zoneHints || e.nodeHints)) hinted = true;
      const { nodePort, healthCheckNodePort, ...rest } = t;
      return {
        ...rest,
        ...(inRange(nodePort, "nodePort") ? { nodePort } : {}),
        ...(inRange(healthCheckNodePort, "healthCheckNodePort") ? { healthCheckNodePort } : {}),
        externalIPs: own(t.externalIPs),
        loadBalancerIPs: own(t.loadBalancerIPs),
        endpoints: applyTopology(eps, this.nodeName, this.zone),
      };
    });
    if (hinted) this.withHints.add(id);
    else this.withHints.delete(id);
    if (refused.size > 0) {
      const list = [...refused].sort().join(", ");
      const what =
        refused.size > 1 ? `IPs ${list} are node or gateway addresses` : `IP ${list} is a node or gateway address`;
      this.refusals.set(id, `service ${id}: external/load-balancer ${what} (refused)`);
    }
    if (captured.size > 0) {
      const list = [...captured].sort().join(", ");
      const msg = `service ${id}: external/load-balancer IP ${list}: a Service's cluster IP or a pod address (refused)`;
      const prior = this.refusals.get(id);
      this.refusals.set(id, prior ? `${prior}; ${msg}` : msg);
    }
    if (outOfRange.size > 0) {
      const ranges = this.nodePortRanges.map(([a, b]) => (a === b ? `${a}` : `${a}:${b}`)).join(", ");
      const msg = `service ${id}: ${[...outOfRange].sort().join(", ")} outside kubeNodePortRanges (${ranges}) (refused)`;
      const prior = this.refusals.get(id);
      this.refusals.set(id, prior ? `${prior}; ${msg}` : msg);
    }
    const tooBig = oversize(id, out, this.maxEndpointPorts);
    if (tooBig) this.refusals.set(id, [this.refusals.get(id), tooBig].filter(Boolean).join("; "));
    return tooBig ? [] : out;
  }

  private endpointsFor(
    t: {
      portName: string;
      protocol: string;
      family: IpVersion;
      namespace: string;
      service: string;
      trafficDistribution?: TrafficDistribution;
    },
    slices: readonly ConvertedSlice[],
  ): ServiceEndpoint[] {
    const byAddr = new Map<string, ServiceEndpoint>();
    for (const s of slices) {
      if (s.family !== t.family) continue;
      for (const p of s.ports) {
        if (p.name !== t.portName || p.protocol !== t.protocol) continue;
        for (const e of s.endpoints) {
          // The endpoint string: one per (ip, port) for canonical IPs, and the sort key below.
          const k = endpointString({ ip: e.ip, port: p.port });
          // An address in two slices (moving between them, or a reused pod IP):
          // kube-proxy prefers the one that is not terminating.
          if (byAddr.has(k) && e.terminating) continue;
          byAddr.set(k, serviceEndpoint(e, p.port, this.nodeName, t.trafficDistribution));
        }
      }
    }
    return byEndpointString(byAddr);
  }
}

/**
 * kube-proxy's order: by the endpoint string `ip:port` (`[ip]:port` for IPv6),
 * as text (its byEndpoint sort), so `10.0.0.10:80` comes before `10.0.0.9:80`
 * and the SVC chain's probabilities go to the endpoints kube-proxy gives them.
 * `byString` is keyed by each endpoint's string (made once, not twice per comparison).
 */
function byEndpointString(byString: ReadonlyMap<string, ServiceEndpoint>): ServiceEndpoint[] {
  return [...byString.keys()].sort().map((k) => byString.get(k)!);
}
