// The nftables proxy mode's part of a flush (FELIX_PROXYMODE=nftables):
// each dirty service's own chains (nat service/local/external/endpoint,
// mangle firewall), its affinity sets, and its elements of kube-proxy's five
// verdict maps. Element changes are gathered over the flush and put into
// DesiredState.nftObjects once at its end, one new map object per changed
// map: a service endpoint change is a few elements and a rewritten service
// chain, never a rewritten dispatch chain. The dispatch chains change only
// with the node-port addresses or a health-check port.

import { castDraft, type Draft } from "immer";
import { dict } from "../../model/dict.js";
import { natShardName } from "../../model/nat-shards.js";
import {
  type AddressSetState,
  type MapVerdict,
  type NftObjectState,
  nftObjectKey,
  type VerdictMapState,
} from "../../model/nft-objects.js";
import type { Rule } from "../../model/rule.js";
import { sameRule } from "../../model/same-rule.js";
import type { ChainStats, ChainWrites } from "../chain-writer.js";
import type { DesiredState } from "../desired-state.js";
import type { IpVersion } from "../model.js";
import { peek } from "../plain.js";
import type { ServiceRenderContext } from "../rules/services.js";
import { type NftMapElement, renderNftServicePort } from "../rules/services-nft.js";
import { emptyServiceMaps, nftServiceDispatchChains, SERVICE_MAP_TABLES } from "../rules/services-nft-static.js";
import { nftShardNatDispatch, shardServiceMaps } from "../rules/services-shards.js";
import { type ServicePort, servicePortId } from "./model.js";
import { CLUSTER_IPS_SET } from "./nft-names.js";
import type { ServiceId } from "./service-index.js";
import { NatShardTracker, putShardDispatch } from "./shard-dispatch.js";

const FAMILIES: readonly IpVersion[] = [4, 6];

interface Rendered {
  /** Per family: its ports' cluster IPs (the cluster-ips set). */
  readonly clusterIPs: Record<IpVersion, readonly string[]>;
  /** Per family: chains owned, as `<table>/<name>`. */
  readonly chains: Record<IpVersion, readonly string[]>;
  readonly elements: Record<IpVersion, readonly NftMapElement[]>;
  /** nftObjects keys of the affinity sets. */
  readonly affinity: readonly string[];
  readonly health: Record<IpVersion, readonly Rule[]>;
  /** Some port has a firewall chain (depends on this node's addresses). */
  readonly firewall: boolean;
}

const elementId = (v: IpVersion, e: Pick<NftMapElement, "map" | "key">) => `${v}/${e.map}/${e.key}`;

export class NftServiceRenderer {
  private readonly rendered = new Map<ServiceId, Rendered>();
  private order: ServiceId[] | undefined;
  /** Per map element (`<v>/<map>/<key>`), the services that want it and their verdicts. */
  private readonly claims = new Map<string, Map<ServiceId, MapVerdict>>();
  /** Per map element, the map it is in: a nat map's is its winner's shard's (rules/services-shards.ts). */
  private readonly placed = new Map<string, string>();
  private shards = new NatShardTracker(1);
  /** This flush's element changes per nftObjects map key: key → verdict, undefined to delete. */
  private readonly pending = new Map<string, Map<string, MapVerdict | undefined>>();
  private healthChanged = false;
  /** Per cluster IP (`<v>/<ip>`), the services that have it: several ports share one. */
  private readonly ipClaims = new Map<string, Set<ServiceId>>();
  /** This flush's cluster IPs whose claims changed, per family. */
  private readonly pendingIPs: Record<IpVersion, Set<string>> = { 4: new Set(), 6: new Set() };

  constructor(private readonly stats: ChainStats & { ipsetsChanged: number }) {}

  /** Services whose chains look at this node's addresses (the LB source-range allowance). */
  withFirewall(): ServiceId[] {
    return [...this.rendered].filter(([, r]) => r.firewall).map(([id]) => id);
  }

  /** Renders one service's ports (sorted); returns the ports that could not be rendered, with why. */
  render(
    d: Draft<DesiredState>,
    writes: ChainWrites,
    id: ServiceId,
    ports: readonly ServicePort[],
    ctxOf: (sp: ServicePort) => ServiceRenderContext,
    shards: NatShardTracker,
  ): string[] {
    this.shards = shards;
    const shard = shards.shardOf(id);
    const before = this.rendered.get(id);
    const chains: Record<IpVersion, string[]> = { 4: [], 6: [] };
    const elements: Record<IpVersion, NftMapElement[]> = { 4: [], 6: [] };
    const health: Record<IpVersion, Rule[]> = { 4: [], 6: [] };
    const affinity: string[] = [];
    const clusterIPs: Record<IpVersion, string[]> = { 4: [], 6: [] };
    const unsupported: string[] = [];
    let firewall = false;
    for (const sp of ports) {
      const v = sp.family;
      let r: ReturnType<typeof renderNftServicePort> | undefined;
      try {
        r = renderNftServicePort(sp, ctxOf(sp));
        const nat = shard === 0 ? r.natChains : r.natChains.map((c) => ({ ...c, natShard: shard }));
        writes.writeAll(v, "nat", nat, this.stats);
        writes.writeAll(v, "mangle", r.mangleChains, this.stats);
      } catch (e) {
        // Left out whole (no map element, so no half-programmed service; no chain it wrote stays) and reported.
        for (const c of r?.natChains ?? []) writes.write(v, "nat", c.name, undefined, this.stats);
        for (const c of r?.mangleChains ?? []) writes.write(v, "mangle", c.name, undefined, this.stats);
        unsupported.push(`${servicePortId(sp)}: ${(e as Error).message}`);
        continue;
      }
      for (const c of r.natChains) chains[v].push(`nat/${c.name}`);
      for (const c of r.mangleChains) chains[v].push(`mangle/${c.name}`);
      firewall ||= r.mangleChains.length > 0;
      if (!clusterIPs[v].includes(sp.clusterIP)) clusterIPs[v].push(sp.clusterIP);
      elements[v].push(...r.elements);
      health[v].push(...r.filterHealthChecks);
      for (const s of r.affinitySets) {
        const key = nftObjectKey(s);
        affinity.push(key);
        const old = peek(d.nftObjects, key);
        if (old?.kind !== "affinitySet" || old.timeoutSeconds !== s.timeoutSeconds) this.putObject(d, key, s);
      }
    }
    for (const v of FAMILIES) {
      for (const c of before?.chains[v] ?? []) {
        if (chains[v].includes(c)) continue;
        const [table, name] = [c.slice(0, c.indexOf("/")), c.slice(c.indexOf("/") + 1)];
        writes.write(v, table as "nat" | "mangle", name, undefined, this.stats);
      }
      this.updateElements(id, v, before?.elements[v] ?? [], elements[v]);
      this.updateClusterIPs(id, v, before?.clusterIPs[v] ?? [], clusterIPs[v]);
      const a = before?.health[v] ?? [];
      if (a.length !== health[v].length || a.some((r, i) => !sameRule(r, health[v][i]))) this.healthChanged = true;
    }
    for (const key of before?.affinity ?? []) if (!affinity.includes(key)) this.putObject(d, key, undefined);
    if (ports.length === 0) {
      if (this.rendered.delete(id)) this.order = undefined;
    } else {
      if (!this.rendered.has(id)) this.order = undefined;
      this.rendered.set(id, { clusterIPs, chains, elements, affinity, health, firewall });
    }
    return unsupported;
  }

  private updateElements(id: ServiceId, v: IpVersion, old: readonly NftMapElement[], now: readonly NftMapElement[]) {
    const wanted = new Map(now.map((e) => [elementId(v, e), e]));
    const touched = new Map<string, NftMapElement>();
    for (const e of old) {
      const eid = elementId(v, e);
      if (wanted.has(eid)) continue;
      this.claims.get(eid)?.delete(id);
      touched.set(eid, e);
    }
    for (const [eid, e] of wanted) {
      let c = this.claims.get(eid);
      if (!c) {
        c = new Map();
        this.claims.set(eid, c);
      }
      c.set(id, e.verdict);
      touched.set(eid, e);
    }
    // A key two services claim is the first's by id (order-independent); when it goes, the next one's.
    for (const [eid, e] of touched) {
      const c = this.claims.get(eid);
      const winner = c && c.size > 0 ? [...c.keys()].sort()[0] : undefined;
      const map = winner === undefined ? undefined : this.mapOf(e.map, winner);
      const was = this.placed.get(eid) ?? e.map;
      if (was !== map) this.change(v, was, e.key, undefined);
      if (winner === undefined || map === undefined) {
        this.claims.delete(eid);
        this.placed.delete(eid);
      } else {
        this.placed.set(eid, map);
        this.change(v, map, e.key, c!.get(winner));
      }
    }
  }

  /** The map an element of `map` claimed by service `id` is in. */
  private mapOf(map: string, id: ServiceId): string {
    return SERVICE_MAP_TABLES[map] === "nat" ? natShardName(map, this.shards.shardOf(id)) : map;
  }

  private updateClusterIPs(id: ServiceId, v: IpVersion, old: readonly string[], now: readonly string[]): void {
    for (const ip of old) {
      if (now.includes(ip)) continue;
      this.ipClaims.get(`${v}/${ip}`)?.delete(id);
      this.pendingIPs[v].add(ip);
    }
    for (const ip of now) {
      const k = `${v}/${ip}`;
      let c = this.ipClaims.get(k);
      if (!c) {
        c = new Set();
        this.ipClaims.set(k, c);
      }
      if (!c.has(id)) this.pendingIPs[v].add(ip);
      c.add(id);
    }
  }

  private change(v: IpVersion, map: string, key: string, verdict: MapVerdict | undefined): void {
    const mk = nftObjectKey({ family: v, name: map });
    let m = this.pending.get(mk);
    if (!m) {
      m = new Map();
      this.pending.set(mk, m);
    }
    m.set(key, verdict);
  }

  private putObject(d: Draft<DesiredState>, key: string, o: NftObjectState | undefined): void {
    if (!d.nftObjects) d.nftObjects = dict();
    if (o) d.nftObjects[key] = castDraft(Object.freeze(o));
    else delete d.nftObjects[key];
    this.stats.ipsetsChanged++;
  }

  /** The family's cluster-ips set with this flush's changes (declared even while empty: a chain uses it). */
  private putClusterIPs(d: Draft<DesiredState>, v: IpVersion): void {
    const key = nftObjectKey({ family: v, name: CLUSTER_IPS_SET });
    const old = peek(d.nftObjects, key) as AddressSetState | undefined;
    const touched = this.pendingIPs[v];
    if (old && touched.size === 0) return;
    const elements = new Set(old?.elements ?? []);
    for (const ip of touched) {
      const claimed = (this.ipClaims.get(`${v}/${ip}`)?.size ?? 0) > 0;
      if (claimed) elements.add(ip);
      else {
        elements.delete(ip);
        this.ipClaims.delete(`${v}/${ip}`);
      }
    }
    touched.clear();
    if (old && old.elements.size === elements.size && [...elements].every((ip) => old.elements.has(ip))) return;
    this.putObject(d, key, { kind: "addressSet", name: CLUSTER_IPS_SET, family: v, elements });
  }

  /**
   * The end of a flush: the maps (declared even while empty: the fixed
   * chains look them up) with this flush's element changes, and the
   * dispatch chains when the node-port addresses or a health check changed.
   */
  commit(
    d: Draft<DesiredState>,
    writes: ChainWrites,
    nodePortIPsChanged: boolean,
    nodePortIPs: (v: IpVersion) => readonly string[] | undefined,
    shards: NatShardTracker,
  ): void {
    // Sharded: the shards that gained their first service or lost their last (or all: node-port addresses).
    const due = shards.sharded ? shards.take() : [];
    // A shard's table of a family is there while a service of the shard has a port in it.
    const present = (ids: readonly ServiceId[], v: IpVersion) =>
      ids.some((id) => this.rendered.get(id)?.chains[v].length);
    for (const v of FAMILIES) {
      // Every map of this family that is declared or has element changes; a shard's while it has services.
      const gone = new Set<string>();
      const maps = new Map(emptyServiceMaps(v).map((m) => [nftObjectKey(m), m]));
      for (let shard = 1; shard < shards.shards; shard++) {
        for (const m of shardServiceMaps(v, shard)) {
          const key = nftObjectKey(m);
          if (d.nftObjects?.[key] || this.pending.has(key)) maps.set(key, m);
        }
      }
      for (const { shard, ids } of due) {
        if (shard === 0) continue;
        for (const m of shardServiceMaps(v, shard)) {
          if (present(ids, v)) maps.set(nftObjectKey(m), m);
          else gone.add(nftObjectKey(m));
        }
      }
      for (const [key, m] of maps) {
        if (!gone.has(key)) this.putMap(d, m);
        else if (d.nftObjects?.[key]) this.putObject(d, key, undefined);
      }
    }
    this.pending.clear();
    for (const v of FAMILIES) this.putClusterIPs(d, v);
    for (const v of FAMILIES) {
      for (const { shard, ids } of due) {
        const remove = shard > 0 && !present(ids, v);
        putShardDispatch(d, writes, v, nftShardNatDispatch(v, shard, nodePortIPs(v)), remove, this.stats);
      }
    }
    if (!this.healthChanged && !nodePortIPsChanged) return;
    this.healthChanged = false;
    if (!this.order) this.order = [...this.rendered.keys()].sort();
    for (const v of FAMILIES) {
      const health: Rule[] = [];
      for (const id of this.order) health.push(...this.rendered.get(id)!.health[v]);
      const { nat, filter } = nftServiceDispatchChains(v, health, nodePortIPs(v));
      if (!shards.sharded) for (const c of nat) writes.write(v, "nat", c.name, c, this.stats);
      for (const c of filter) writes.write(v, "filter", c.name, c, this.stats);
    }
  }

  /** A map (declared even while empty: the fixed chains look it up) with this flush's element changes. */
  private putMap(d: Draft<DesiredState>, empty: VerdictMapState): void {
    const key = nftObjectKey(empty);
    const old = peek(d.nftObjects, key) as VerdictMapState | undefined;
    const changes = this.pending.get(key);
    if (old && !changes) return;
    const elements = new Map(old?.elements ?? []);
    let changed = !old;
    for (const [k, verdict] of changes ?? []) {
      const have = elements.get(k);
      if (verdict === undefined) changed = elements.delete(k) || changed;
      else if (!have || JSON.stringify(have) !== JSON.stringify(verdict)) {
        elements.set(k, verdict);
        changed = true;
      }
    }
    if (changed) this.putObject(d, key, { ...empty, elements });
  }
}
