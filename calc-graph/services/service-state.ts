// The services part of a flush: what the ServiceIndex marked dirty goes into
// the next DesiredState draft.
//   - every proxy mode but off: DesiredState.services, the ServicePorts both
//     modes and felix-dump read;
//   - iptables mode: each dirty service's own nat chains (SVC/SVL/EXT/FW/SEP),
//     then the dispatch chains rebuilt from every service's kept fragments,
//     and the pod-CIDR IP sets;
//   - ipvs mode: the IpvsStateBuilder's part (virtual services, bound
//     addresses, IP sets, cali-IPVS-* chains) from every ServicePort, when a
//     service, the pod CIDRs or this node's addresses changed.
// A clean service costs nothing but its place in the dispatch chains; a chain
// rendered to the same rules keeps its object, so the dataplane writes only
// what changed.

import type { Draft } from "immer";
import { sameRule } from "../../model/same-rule.js";
import type { ChainWrites } from "../chain-writer.js";
import type { DesiredState } from "../desired-state.js";
import { peekIpSet, writeIpSet } from "../ipsets/draft-ipset.js";
import { hashNetMembers } from "../ipsets/hash-net.js";
import type { IpVersion } from "../model.js";
import { peek } from "../plain.js";
import { LARGE_CLUSTER_ENDPOINTS, renderServicePort, type ServicePortRules } from "../rules/services.js";
import { shardNatDispatch } from "../rules/services-shards.js";
import { serviceDispatchChains } from "../rules/services-static.js";
import { sameMembers } from "../same.js";
import type { IpvsStateBuilder } from "./ipvs-builder.js";
import {
  DEFAULT_KUBE_PROXY_OPTIONS,
  type KubeProxyOptions,
  type ProxyMode,
  type ServicePort,
  servicePortId,
} from "./model.js";
import { podCidrSetName } from "./names.js";
import { NftServiceRenderer } from "./nft-service-state.js";
import { localhostNodePorts } from "./node-port-addresses.js";
import { servicePortOf, withServicePorts } from "./port-shards.js";
import type { ServiceId, ServiceIndex } from "./service-index.js";
import { NatShardTracker, putShardDispatch } from "./shard-dispatch.js";

const FAMILIES: readonly IpVersion[] = [4, 6];
const ROUTE_LOCALNET = "net/ipv4/conf/all/route_localnet";

export interface ServiceRenderStats {
  chainsRendered: number;
  chainsChanged: number;
  ipsetsChanged: number;
}

interface Rendered {
  /** DesiredState.services ids. */
  readonly ports: readonly string[];
  /** Per family: nat chains owned, and the dispatch fragments (sorted by port id; without their own chains). */
  readonly chains: Record<IpVersion, readonly string[]>;
  readonly fragments: Record<IpVersion, readonly ServicePortRules[]>;
}

export class ServiceStateRenderer {
  private readonly rendered = new Map<ServiceId, Rendered>();
  /** `rendered`'s keys sorted; dropped when a service comes or goes. */
  private order: ServiceId[] | undefined;
  /** Each service's ports as last put into DesiredState.services (same objects while the service is clean). */
  private readonly ports = new Map<ServiceId, readonly ServicePort[]>();
  private cidrsKnown: Record<IpVersion, boolean> = { 4: false, 6: false };
  /** IPVS mode's masquerade mark (iptablesMarkMask); a change re-renders the IPVS chains. */
  private ipvsMasqMark: number | undefined;
  private ipvsMarkChanged = false;
  /** nftables mode's part (kube-proxy's nftables layout). */
  private readonly nft: NftServiceRenderer | undefined;
  /** The services per nat shard (the nftables dataplane's; set at the first flush, from the rule backend). */
  private shards: NatShardTracker | undefined;
  /** index.primaryNodeIPs() as of this flush: read once, not per service port. */
  private nodeIPs: readonly string[] = [];
  /** Per service, its ports' endpoints per family; their sums; kube-proxy's large cluster mode per family. */
  private readonly endpointCounts = new Map<ServiceId, Record<IpVersion, number>>();
  private readonly totalEndpoints: Record<IpVersion, number> = { 4: 0, 6: 0 };
  private readonly largeCluster: Record<IpVersion, boolean> = { 4: false, 6: false };

  constructor(
    private readonly index: ServiceIndex,
    private readonly mode: ProxyMode,
    private readonly stats: ServiceRenderStats,
    private readonly ipvs?: IpvsStateBuilder,
    private readonly kubeProxy: KubeProxyOptions = DEFAULT_KUBE_PROXY_OPTIONS,
  ) {
    this.nft = mode === "nftables" ? new NftServiceRenderer(stats) : undefined;
  }

  /** IPv4 node ports on 127.0.0.1 (needs route_localnet on the way out). */
  private get localhost(): boolean {
    return localhostNodePorts(this.kubeProxy.localhostNodePorts, this.kubeProxy.nodePortAddresses);
  }

  setNodePortRanges(ranges: readonly (readonly [number, number])[]): void {
    this.index.setNodePortRanges(ranges);
  }

  setIpvsMasqMark(mark: number): void {
    if (mark !== this.ipvsMasqMark) this.ipvsMarkChanged = this.ipvsMasqMark !== undefined;
    this.ipvsMasqMark = mark;
  }

  /** `portWrites`: DesiredState.services changes, put by the builder after the draft is done. */
  flush(d: Draft<DesiredState>, writes: ChainWrites, portWrites: ServicePortWrites): void {
    const dirty = this.index.takeDirty();
    if (this.mode === "off") return;
    this.nodeIPs = this.index.primaryNodeIPs();
    this.shards ??= new NatShardTracker(writes.chains.rules.natShards ?? 1);
    const iptables = this.mode === "iptables";
    // Both rule-based modes masquerade by the pod-CIDR set and look at this node's addresses.
    const ruled = iptables || this.nft !== undefined;
    if (dirty.podCIDRs && ruled) {
      for (const v of FAMILIES) {
        const cidrs = this.index.podCIDRsOf(v);
        const known = cidrs.length > 0;
        this.putPodCidrSet(d, v, cidrs);
        if (known !== this.cidrsKnown[v]) {
          this.cidrsKnown[v] = known;
          // Every service's masquerade rules depend on it.
          for (const id of this.rendered.keys()) dirty.services.add(id);
        }
      }
    }
    if (dirty.localIPs && this.nft) for (const id of this.nft.withFirewall()) dirty.services.add(id);
    if (dirty.localIPs && iptables) {
      // Only the source-range (FW) chains look at this node's addresses.
      for (const [id, r] of this.rendered) {
        if (
          r.fragments[4].some((f) => f.filterFirewall.length) ||
          r.fragments[6].some((f) => f.filterFirewall.length)
        ) {
          dirty.services.add(id);
        }
      }
    }
    const ipvsInputsChanged =
      dirty.services.size > 0 ||
      dirty.podCIDRs ||
      dirty.localIPs ||
      dirty.hostAddresses ||
      dirty.nodePortIPs ||
      this.ipvsMarkChanged;
    this.ipvsMarkChanged = false;
    let dispatchChanged = false;
    const portsOf = iptables ? this.countEndpoints(dirty.services) : new Map<ServiceId, ServicePort[]>();
    for (const id of [...dirty.services].sort()) {
      const ports = portsOf.get(id) ?? this.index.ports(id);
      if (this.renderService(d, portWrites, writes, id, ports, iptables, this.shards)) dispatchChanged = true;
      putRefusal(d, id, this.index.refusal(id));
    }
    // An endpoint change rewrites the service's own chains only; the dispatch
    // chains (one rule per frontend, thousands at scale) change when a
    // service's frontends do, or the node-port addresses.
    if (dirty.nodePortIPs) this.shards.touchAll();
    if (iptables && (dispatchChanged || dirty.nodePortIPs)) this.putDispatch(d, writes, this.shards);
    this.nft?.commit(d, writes, dirty.nodePortIPs, (v) => this.index.nodePortIPs(v), this.shards);
    // kube-proxy sets it for localhost node ports: 127.0.0.1 as a source may leave the host after DNAT.
    if (iptables && this.localhost && d.sysctls[ROUTE_LOCALNET] !== "1") d.sysctls[ROUTE_LOCALNET] = "1";
    if (this.ipvs && this.mode === "ipvs" && ipvsInputsChanged) {
      const servicePorts = [...this.ports.keys()].sort().flatMap((id) => this.ports.get(id)!);
      this.ipvs.put(
        d,
        {
          servicePorts,
          nodeAddresses: this.index.ipvsNodeAddresses(),
          nodeIPs: this.index.primaryNodeIPs(),
          podCidrs: this.index.podCIDRs(),
          ...(this.kubeProxy.masqueradeAll ? { masqueradeAll: true } : {}),
          ...(this.ipvsMasqMark !== undefined ? { masqMark: this.ipvsMasqMark } : {}),
        },
        writes,
      );
    }
  }

  /**
   * kube-proxy's large cluster mode, decided as its proxier does before it renders: the
   * endpoints of every service port of the family, more than LARGE_CLUSTER_ENDPOINTS. The
   * dirty services' ports are read here (and returned, for their rendering); a family
   * crossing the threshold either way re-renders every service.
   */
  private countEndpoints(dirty: Set<ServiceId>): Map<ServiceId, ServicePort[]> {
    const portsOf = new Map<ServiceId, ServicePort[]>();
    for (const id of dirty) {
      const ports = this.index.ports(id);
      portsOf.set(id, ports);
      const was = this.endpointCounts.get(id);
      const now: Record<IpVersion, number> = { 4: 0, 6: 0 };
      for (const sp of ports) now[sp.family] += sp.endpoints.length;
      for (const v of FAMILIES) this.totalEndpoints[v] += now[v] - (was?.[v] ?? 0);
      if (ports.length > 0) this.endpointCounts.set(id, now);
      else this.endpointCounts.delete(id);
    }
    for (const v of FAMILIES) {
      const large = this.totalEndpoints[v] > LARGE_CLUSTER_ENDPOINTS;
      if (large === this.largeCluster[v]) continue;
      this.largeCluster[v] = large;
      for (const id of this.rendered.keys()) dirty.add(id);
    }
    return portsOf;
  }

  /** Renders one service; true when its dispatch fragments changed. */
  private renderService(
    d: Draft<DesiredState>,
    portWrites: ServicePortWrites,
    writes: ChainWrites,
    id: ServiceId,
    unsorted: ServicePort[],
    iptables: boolean,
    shards: NatShardTracker,
  ): boolean {
    const before = this.rendered.get(id);
    const ports = unsorted.sort((a, b) => cmp(servicePortId(a), servicePortId(b)));
    const ids = ports.map(servicePortId);
    for (const old of before?.ports ?? []) if (!ids.includes(old)) portWrites.set(old, undefined);
    for (const sp of ports) {
      const pid = servicePortId(sp);
      // A new port needs no comparison.
      const old = servicePortOf(portWrites.base, pid);
      if (!old || JSON.stringify(old) !== JSON.stringify(sp)) portWrites.set(pid, sp);
    }
    const chains: Record<IpVersion, string[]> = { 4: [], 6: [] };
    const fragments: Record<IpVersion, ServicePortRules[]> = { 4: [], 6: [] };
    const unsupported: string[] = [];
    const shard = shards.shardOf(id);
    if (iptables) {
      for (const sp of ports) {
        const r = renderServicePort(sp, {
          family: sp.family,
          podCidrsKnown: this.cidrsKnown[sp.family],
          nodeIPs: this.nodeIPs,
          masqueradeAll: this.kubeProxy.masqueradeAll,
          largeCluster: this.largeCluster[sp.family],
        });
        try {
          const nat = shard === 0 ? r.natChains : r.natChains.map((c) => ({ ...c, natShard: shard }));
          writes.writeAll(sp.family, "nat", nat, this.stats);
        } catch (e) {
          // The backend cannot express it (nftables: session affinity): the port is left out
          // whole (no frontend, so no half-programmed service) and reported.
          unsupported.push(`${servicePortId(sp)}: ${(e as Error).message}`);
          continue;
        }
        // Kept for the dispatch chains only: the service's own chains are in the snapshot already.
        fragments[sp.family].push({ ...r, natChains: [] });
        for (const c of r.natChains) chains[sp.family].push(c.name);
      }
      for (const v of FAMILIES) {
        for (const name of before?.chains[v] ?? []) {
          if (!chains[v].includes(name)) writes.write(v, "nat", name, undefined, this.stats);
        }
      }
    }
    if (this.nft) {
      const ctxOf = (sp: ServicePort) => ({
        family: sp.family,
        podCidrsKnown: this.cidrsKnown[sp.family],
        nodeIPs: this.nodeIPs,
        masqueradeAll: this.kubeProxy.masqueradeAll,
      });
      unsupported.push(...this.nft.render(d, writes, id, ports, ctxOf, shards));
    }
    putUnsupported(d, id, unsupported.length > 0 ? `not programmed: ${unsupported.join("; ")}` : undefined);
    const changed = !before || FAMILIES.some((v) => !sameFragments(before.fragments[v], fragments[v]));
    // kube-proxy's layout: the shard's dispatch is a few fixed rules, but whether it is there depends on families.
    if (changed || ports.length === 0 || this.nft) shards.touch(id, ports.length > 0);
    if (ports.length === 0) {
      if (this.rendered.delete(id)) this.order = undefined;
      this.ports.delete(id);
    } else {
      if (!this.rendered.has(id)) this.order = undefined;
      this.rendered.set(id, { ports: ids, chains, fragments });
      this.ports.set(id, ports);
    }
    return changed;
  }

  private putDispatch(d: Draft<DesiredState>, writes: ChainWrites, shards: NatShardTracker): void {
    if (!this.order) this.order = [...this.rendered.keys()].sort();
    const due = shards.sharded ? shards.take() : [];
    for (const v of FAMILIES) {
      // The filter dispatch is one set of chains in the policy table, sharded or not.
      const fragments: ServicePortRules[] = [];
      for (const id of this.order) fragments.push(...this.rendered.get(id)!.fragments[v]);
      const ips = this.index.nodePortIPs(v);
      const nodePorts = { localhost: this.localhost, ...(ips !== undefined ? { ips } : {}) };
      const { nat, filter } = serviceDispatchChains(v, fragments, nodePorts);
      if (!shards.sharded) for (const c of nat) writes.write(v, "nat", c.name, c, this.stats);
      for (const c of filter) writes.write(v, "filter", c.name, c, this.stats);
      // Sharded: only the shards whose services changed (or all, for new node-port addresses).
      for (const { shard, ids } of due) {
        const frags = ids.flatMap((id) => this.rendered.get(id)!.fragments[v]);
        // A shard's table of a family is there while a service of the shard has a frontend in it.
        const remove = shard > 0 && frags.length === 0;
        putShardDispatch(d, writes, v, shardNatDispatch(v, shard, frags, nodePorts), remove, this.stats);
      }
    }
  }

  private putPodCidrSet(d: Draft<DesiredState>, v: IpVersion, cidrs: readonly string[]): void {
    const name = podCidrSetName(v);
    if (cidrs.length === 0) {
      if (writeIpSet(d, name, undefined)) this.stats.ipsetsChanged++;
      return;
    }
    // ipset lists a full-length prefix as a bare address.
    const members = new Set(hashNetMembers(cidrs));
    const old = peekIpSet(d, name);
    if (old && sameMembers(old.members, members)) return;
    writeIpSet(d, name, { name, family: v, type: "hash:net" as const, members });
    this.stats.ipsetsChanged++;
  }
}

/** Reports (or clears) a service's refused frontends as `Service/<ns>/<name>/addresses`. */
function putRefusal(d: Draft<DesiredState>, id: ServiceId, message: string | undefined): void {
  putProblem(d, id, "addresses", message);
}

/** Reports (or clears) the ports the rule backend cannot express as `Service/<ns>/<name>/dataplane`. */
function putUnsupported(d: Draft<DesiredState>, id: ServiceId, message: string | undefined): void {
  putProblem(d, id, "dataplane", message);
}

function putProblem(d: Draft<DesiredState>, id: ServiceId, what: string, message: string | undefined): void {
  const [namespace, name] = id.split("/");
  const key = `Service/${namespace}/${name}/${what}`;
  if (peek(d.problems, key)?.message === message) return;
  if (message === undefined) delete d.problems[key];
  else d.problems[key] = { key, message };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * DesiredState.services changes of one flush. The builder puts them into the
 * snapshot after immer is done with it, as new frozen shards: through a draft,
 * immer would copy the shards' array and walk every new port and its endpoints.
 */
export class ServicePortWrites {
  private readonly changes = new Map<string, ServicePort | undefined>();

  constructor(readonly base: DesiredState["services"]) {}

  set(id: string, sp: ServicePort | undefined): void {
    this.changes.set(id, sp);
  }

  /** The new shards, or undefined when nothing changed. */
  next(): DesiredState["services"] | undefined {
    const next = withServicePorts(this.base, this.changes);
    return next === this.base ? undefined : next;
  }
}

const DISPATCH_PARTS = [
  "natServices",
  "natNodePorts",
  "filterServices",
  "filterExternal",
  "filterNodePorts",
  "filterFirewall",
] as const;

/** Whether two renderings put the same rules into the dispatch chains. */
function sameFragments(a: readonly ServicePortRules[], b: readonly ServicePortRules[]): boolean {
  return (
    a.length === b.length &&
    a.every((fa, i) =>
      DISPATCH_PARTS.every((k) => {
        const x = fa[k];
        const y = b[i][k];
        return x.length === y.length && x.every((r, j) => sameRule(r, y[j]));
      }),
    )
  );
}
