// The graph node for Calico networking: keeps nodes, IP pools, block
// affinities and the Felix configuration, and decides what the routes to
// each node's blocks look like, whether this node needs tunnel devices,
// which remote VTEPs get neighbour/FDB entries (tunnel-devices.ts renders
// them) and the natOutgoing IP sets.
//
// A pool, affinity or configuration change, or a change of this node, can
// change the route to every block: it marks all nodes dirty. A change of
// another node marks only that node.

import type { TunnelDevice } from "../../ifaces/tunnel.js";
import type { Route } from "../../routes/route.js";
import { mergeConfigs } from "../config/fields.js";
import type { IpVersion, NodeInfo, WorkloadEndpoint } from "../model.js";
import { matches } from "../selector/selector.js";
import { BlockClaims, type PoolPrefix } from "./block-claims.js";
import { type BlockRouteResult, blockRoutes, encapFor, poolFor } from "./block-routes.js";
import type { BlockAffinity, FelixNetworkConfig, IpPool, NetworkUpdate } from "./model.js";
import { Prefix } from "./prefix.js";
import type { NetworkState } from "./state.js";
import { ipipDevice, mtuSettings, vtepEntries, vxlanDevice } from "./tunnel-devices.js";
import { nodeIpv4, type Vtep, vtepOf } from "./vtep.js";
import { vtepConflicts } from "./vtep-claims.js";
import { WorkloadAddresses } from "./workload-routes.js";

export interface NetworkDirty {
  readonly all: boolean;
  readonly nodes: ReadonlySet<string>;
  /** Nodes whose borrowed-address routes alone may have changed (no tunnel or neighbour change). */
  readonly routes: ReadonlySet<string>;
}

export class NetworkIndex {
  readonly nodes = new Map<string, NodeInfo>();
  readonly pools = new Map<string, IpPool>();
  private readonly affinities = new Map<string, BlockAffinity>();
  /** node → its affine blocks. */
  private readonly blocksByNode = new Map<string, Set<string>>();
  private readonly felixConfigs = new Map<string, FelixNetworkConfig>();
  /** Who holds each block: claims checked against the pools, duplicates resolved (block-claims.ts). */
  private readonly claims: BlockClaims;
  /** Every endpoint's addresses, for borrowed-address routes (workload-routes.ts). */
  private readonly workloads = new WorkloadAddresses();
  private poolPrefixCache: PoolPrefix[] | undefined;
  /** Nodes whose VTEP repeats another's (vtep-claims.ts); recomputed when a node changed. */
  private vtepRefused = new Map<string, string>();
  private vtepStale = false;
  /** node → its held blocks, parsed; cleared when claims or pools change. */
  private heldCache = new Map<string, Prefix[]>();
  private dirtyAll = true;
  private dirtyNodes = new Set<string>();
  private dirtyRoutes = new Set<string>();
  /** Blocks that changed hands since takeDirty: the nodes with workloads inside get their routes again. */
  private changedBlocks = new Set<string>();

  constructor(
    private readonly nodeName: string,
    /** FELIX_* overrides: they win over every FelixConfiguration, as in Felix. */
    private readonly envConfig: FelixNetworkConfig = {},
  ) {
    this.claims = new BlockClaims(nodeName);
  }

  updateNode(name: string, node: NodeInfo | null): void {
    if (node) this.nodes.set(name, node);
    else this.nodes.delete(name);
    if (name === this.nodeName) this.dirtyAll = true;
    else this.dirtyNodes.add(name);
    this.vtepStale = true;
    this.refreshClaims(name);
  }

  /** An endpoint (any node) after the address guard: its addresses may need their own route. */
  updateWorkload(key: string, ep: WorkloadEndpoint | null): void {
    const before = this.workloads.get(key);
    const affected = this.workloads.update(key, ep);
    if (affected.size === 0) return;
    const changed: [string, readonly string[]][] = [];
    if (before) changed.push([before.node, before.nets]);
    if (ep) changed.push([ep.node, [...ep.ipv4Nets, ...ep.ipv6Nets]]);
    // The common case, an address in its own node's block that no other node's pod claims, routes nothing.
    for (const [node, nets] of changed) {
      for (const net of nets) {
        const others = this.workloads.nodesAt(net);
        if (this.holds(node, net) && [...others].every((o) => o === node)) continue;
        // A node holding no block reaches VXLAN peers through its pods' addresses alone: its neighbour entries too.
        if (this.heldCache.get(node)?.length === 0) this.dirtyNodes.add(node);
        this.dirtyRoutes.add(node);
        for (const o of others) this.dirtyRoutes.add(o);
      }
    }
  }

  private holds(node: string, net: string): boolean {
    let held = this.heldCache.get(node);
    if (!held) {
      held = this.blocksOf(node).map((b) => Prefix.parse(b));
      this.heldCache.set(node, held);
    }
    return held.some((b) => b.contains(net));
  }

  /** The nodes with a workload at `net` (a local route for it went away: theirs may be due). */
  workloadNodesAt(net: string): Set<string> {
    return this.workloads.nodesAt(net);
  }

  /** A node's claims are its affinities where it has any, else its pod CIDRs. */
  private refreshClaims(name: string): void {
    const affine = this.blocksByNode.get(name);
    const before = this.claims.owned(name, this.poolPrefixes()).blocks;
    const affected =
      affine && affine.size > 0
        ? this.claims.set(name, "affinity", [...affine].sort())
        : this.claims.set(name, "podCIDR", [...(this.nodes.get(name)?.podCIDRs ?? [])]);
    const after = this.claims.owned(name, this.poolPrefixes()).blocks;
    this.heldCache.clear();
    for (const n of affected) this.dirtyNodes.add(n);
    if (affected.has(this.nodeName)) this.dirtyAll = true;
    // A block changed hands: the borrowed-address routes inside it may change.
    // Resolved at takeDirty in one pass over the addresses: at start-up every Node changes hands.
    if (before.join() !== after.join()) for (const b of [...before, ...after]) this.changedBlocks.add(b);
  }

  private poolPrefixes(): PoolPrefix[] {
    this.poolPrefixCache ??= [...this.pools.values()].map((pool) => ({ pool, prefix: Prefix.parse(pool.cidr) }));
    return this.poolPrefixCache;
  }

  update(u: NetworkUpdate): void {
    switch (u.kind) {
      case "pool":
        if (u.pool) this.pools.set(u.name, u.pool);
        else this.pools.delete(u.name);
        this.poolPrefixCache = undefined;
        this.heldCache.clear();
        this.dirtyAll = true;
        break;
      case "affinity": {
        const old = this.affinities.get(u.name);
        if (old) {
          this.blocksByNode.get(old.node)?.delete(old.cidr);
          this.dirtyNodes.add(old.node);
        }
        if (u.affinity) {
          this.affinities.set(u.name, u.affinity);
          const set = this.blocksByNode.get(u.affinity.node) ?? new Set<string>();
          this.blocksByNode.set(u.affinity.node, set);
          set.add(u.affinity.cidr);
          this.dirtyNodes.add(u.affinity.node);
        } else this.affinities.delete(u.name);
        if (old) this.refreshClaims(old.node);
        if (u.affinity && u.affinity.node !== old?.node) this.refreshClaims(u.affinity.node);
        if (this.dirtyNodes.has(this.nodeName)) this.dirtyAll = true;
        break;
      }
      case "felix-config":
        if (u.config) this.felixConfigs.set(u.name, u.config);
        else this.felixConfigs.delete(u.name);
        this.dirtyAll = true;
        break;
    }
  }

  takeDirty(): NetworkDirty {
    if (this.vtepStale) {
      this.vtepStale = false;
      const next = vtepConflicts(this.nodes, this.nodeName);
      for (const n of new Set([...next.keys(), ...this.vtepRefused.keys()])) {
        if (next.get(n) !== this.vtepRefused.get(n)) this.dirtyNodes.add(n);
      }
      this.vtepRefused = next;
    }
    if (this.changedBlocks.size > 0) {
      const blocks = [...this.changedBlocks].map((b) => Prefix.parse(b));
      for (const n of this.workloads.nodesWithin(blocks)) this.dirtyRoutes.add(n);
      this.changedBlocks = new Set();
    }
    this.heldCache.clear(); // a batch's cache: kept longer, it would hold every node
    const d = { all: this.dirtyAll, nodes: this.dirtyNodes, routes: this.dirtyRoutes };
    this.dirtyAll = false;
    this.dirtyNodes = new Set();
    this.dirtyRoutes = new Set();
    return d;
  }

  /** Every node name with a Node or affinities. */
  nodeNames(): string[] {
    return [...new Set([...this.nodes.keys(), ...this.blocksByNode.keys()])];
  }

  /**
   * A node's IPAM blocks: its block affinities where it has any, else its pod
   * CIDRs; only those inside the pools that no earlier node holds (block-claims.ts).
   */
  blocksOf(name: string): string[] {
    return this.claims.owned(name, this.poolPrefixes()).blocks;
  }

  /**
   * The routes to one node's blocks and to its workloads' borrowed addresses
   * (a node without a Node object gets none), with why claims were refused.
   */
  routesFor(name: string): BlockRouteResult {
    const node = this.nodes.get(name);
    if (!node) return { routes: new Map<string, Route>() };
    const local = this.nodes.get(this.nodeName);
    const owned = this.claims.owned(name, this.poolPrefixes());
    const r = blockRoutes(this.nodeName, local, node, owned.blocks, this.pools.values());
    const problems = [...(r.problem ? [r.problem] : []), ...owned.refused];
    if (name !== this.nodeName) {
      const held = owned.blocks.map((b) => Prefix.parse(b));
      let holders: [Prefix, string][] | undefined; // built on the first address outside `held`, once per call
      const holderOf = (net: string) => {
        holders ??= this.nodeNames().flatMap((n) =>
          this.blocksOf(n).map((b): [Prefix, string] => [Prefix.parse(b), n]),
        );
        return holders.find(([b]) => b.contains(net))?.[1];
      };
      const borrowed = this.workloads.borrowed(name, held, holderOf);
      const b = blockRoutes(this.nodeName, local, node, borrowed, this.pools.values());
      if (b.problem) problems.push(b.problem);
      for (const [dst, route] of b.routes) r.routes.set(dst, { ...route, kind: "remote-workload" });
    }
    const vtep = this.vtepRefused.get(name);
    if (vtep) {
      // No VXLAN route to a node whose VTEP another node has: it would reach that node.
      for (const [dst, route] of r.routes) if (route.dev?.startsWith("vxlan")) r.routes.delete(dst);
      problems.push(vtep);
    }
    return { routes: r.routes, problem: problems.length > 0 ? problems.join("; ") : undefined };
  }

  /** FelixConfiguration `default` < `node.<name>` < FELIX_* environment. */
  config(): FelixNetworkConfig {
    return mergeConfigs(
      this.felixConfigs.get("default"),
      this.felixConfigs.get(`node.${this.nodeName}`),
      this.envConfig,
    );
  }

  /** Enabled (not disabled) pools' CIDRs of a family, sorted. */
  enabledPoolCidrs(v: IpVersion): string[] {
    return [...this.pools.values()]
      .filter((p) => p.family === v && !p.disabled)
      .map((p) => p.cidr)
      .sort();
  }

  /**
   * The cluster's pod CIDRs of a family, for the services part of the graph:
   * the enabled IP pools' CIDRs when there are any, else every node's pod CIDRs.
   */
  clusterPodCidrs(v: IpVersion): string[] {
    const pools = this.enabledPoolCidrs(v);
    if (pools.length > 0) return pools;
    const out = new Set<string>();
    for (const n of this.nodes.values()) for (const c of n.podCIDRs) if (c.includes(":") === (v === 6)) out.add(c);
    return [...out].sort();
  }

  /** natOutgoing IP set members for a family: every pool, and the natOutgoing ones. */
  natOutgoingSets(v: IpVersion): { all: string[]; masq: string[] } {
    const pools = [...this.pools.values()].filter((p) => p.family === v);
    return {
      all: pools.map((p) => p.cidr).sort(),
      masq: pools
        .filter((p) => p.natOutgoing)
        .map((p) => p.cidr)
        .sort(),
    };
  }

  /**
   * Whether this node needs an encapsulation's device: FelixConfiguration/env
   * (vxlanEnabled, ipipEnabled) when set; else when an enabled pool that
   * selects this node uses it (calico-node gives such nodes a tunnel address),
   * or a route to a remote block goes through it.
   */
  private encapInUse(kind: "vxlan" | "ipip", cfg: FelixNetworkConfig, v: IpVersion = 4): boolean {
    const explicit = kind === "ipip" ? cfg.ipipEnabled : v === 4 ? cfg.vxlanEnabled : cfg.vxlanEnabledV6;
    if (explicit !== undefined) return explicit;
    const local = this.nodes.get(this.nodeName);
    const labels = new Map(Object.entries(local?.labels ?? {}));
    const selected = [...this.pools.values()].some(
      (p) =>
        p.family === v &&
        !p.disabled &&
        (kind === "vxlan" ? p.vxlanMode : p.ipipMode) !== "Never" &&
        matches(p.nodeSelector, labels),
    );
    if (selected) return true;
    for (const [name, n] of this.nodes) {
      if (name === this.nodeName) continue;
      for (const b of this.blocksOf(name)) {
        if (b.includes(":") !== (v === 6)) continue;
        if (encapFor(poolFor(this.pools.values(), b), local, n) === kind) return true;
      }
    }
    return false;
  }

  /** Remote VTEPs some route of this family goes through: a node reached without encapsulation needs no entries. */
  private routedVteps(v: IpVersion): Vtep[] {
    const local = this.nodes.get(this.nodeName);
    const out: Vtep[] = [];
    for (const name of this.nodeNames().sort()) {
      if (name === this.nodeName) continue;
      const n = this.nodes.get(name);
      const vtep = n && !this.vtepRefused.has(name) ? vtepOf(n, v) : undefined;
      if (!n || !vtep) continue;
      // Only VTEPs some route uses: a node reached without encapsulation needs no entries. A node
      // holding no block (IPAM lent all its pods' addresses) is reached through those addresses.
      const family = (b: string) => b.includes(":") === (v === 6);
      const blocks = this.blocksOf(name).filter(family);
      const via = blocks.length > 0 ? blocks : [...this.workloads.addressesOn(name)].filter(family);
      const viaVxlan = via.some((b) => encapFor(poolFor(this.pools.values(), b), local, n) === "vxlan");
      if (viaVxlan) out.push(vtep);
    }
    return out;
  }

  /** Tunnel devices, neighbour/FDB entries and MTU settings, plus problems (by key). */
  network(): { state: NetworkState; problems: Map<string, string> } {
    const cfg = this.config();
    const problems = new Map<string, string>();
    const local = this.nodes.get(this.nodeName);
    const tunnels: Record<string, TunnelDevice> = {};
    const localKey = `Node//${this.nodeName}`;
    for (const v of [4, 6] as const) {
      if (!this.encapInUse("vxlan", cfg, v)) continue;
      const dev = vxlanDevice(local, v, cfg);
      if (typeof dev === "string") problems.set(`${localKey}/${v === 4 ? "vxlan" : "vxlan-v6"}`, dev);
      else tunnels[dev.name] = dev;
    }
    if (this.encapInUse("ipip", cfg)) {
      const dev = ipipDevice(local, cfg);
      if (typeof dev === "string") problems.set(`${localKey}/ipip`, dev);
      else tunnels[dev.name] = dev;
    }
    const { neighbors, fdb } = vtepEntries(tunnels, (v) => this.routedVteps(v));
    const state = { poolsInUse: this.pools.size > 0, tunnels, neighbors, fdb, mtu: mtuSettings(tunnels, cfg) };
    return { state, problems };
  }

  /** The other nodes' VTEP underlay addresses of a family, sorted: who may send us VXLAN. */
  remoteVtepAddresses(v: IpVersion = 4): string[] {
    const out = new Set<string>();
    for (const [name, n] of this.nodes) {
      const vtep = name === this.nodeName || this.vtepRefused.has(name) ? undefined : vtepOf(n, v);
      if (vtep) out.add(vtep.nodeIp); // ipset lists a /32 as the bare address
    }
    return [...out].sort();
  }

  /** Every node's IPv4 address, this one's included, sorted: who may send us IP-in-IP (Felix's all-hosts-net). */
  allHostAddresses(): string[] {
    const out = new Set<string>();
    for (const n of this.nodes.values()) {
      const ip = nodeIpv4(n);
      if (ip) out.add(ip);
    }
    return [...out].sort();
  }
}
