// The last node: renders what the batch made dirty into the next immutable
// DesiredState. Only dirty policies, profiles, endpoints, IP sets and nodes
// are rendered; a re-rendered chain whose rule hashes did not change keeps
// its previous object, so "changed" is exactly "different by reference".

import { castDraft, type Draft, enableMapSet, produce } from "immer";
import { globalSysctls, interfaceSysctls } from "../ifaces/sysctls.js";
import { renderChain, renderHook } from "../iptables/render.js";
import type { Chain } from "../iptables/rule.js";
import {
  type FamilyTables,
  putChain,
  TABLE_NAMES,
  type TableName,
  type TableState,
  tableState,
} from "../iptables/tables.js";
import type { Route } from "../routes/route.js";
import type { ResourceProblem } from "../src/model/resource.js";
import type { ActiveRulesCalculator } from "./active-rules.js";
import { ChainWrites } from "./chain-writer.js";
import type { DesiredState, EndpointState, IpSetState } from "./desired-state.js";
import { familyKey } from "./desired-state.js";
import { ipSetName, ipSetType } from "./ipsets/ids.js";
import type { IpSetIndex } from "./ipsets/ipset-index.js";
import type { IpVersion, NodeInfo, PolicyRule, WorkloadEndpoint } from "./model.js";
import type { FelixNetworkConfig } from "./network/model.js";
import { NetworkIndex } from "./network/network-index.js";
import { putNetwork } from "./network/render.js";
import { EMPTY_NETWORK } from "./network/state.js";
import { plain } from "./plain.js";
import { renderDispatchChains } from "./rules/dispatch.js";
import { renderEndpointRules } from "./rules/endpoint.js";
import { type Direction, endpointChainName, policyChainName, profileChainName } from "./rules/names.js";
import { renderPolicyRules } from "./rules/policy.js";
import { renderStaticTables, type StaticConfig } from "./rules/static.js";
import { ServicePortWrites, type ServiceStateRenderer } from "./services/service-state.js";

enableMapSet();

export interface BuilderConfig extends StaticConfig {
  readonly nodeName: string;
  readonly rpFilter: string;
  /** FELIX_* networking overrides (they win over FelixConfiguration). */
  readonly networkEnv?: FelixNetworkConfig;
}

const FAMILIES: readonly IpVersion[] = [4, 6];
const DIRECTIONS: readonly Direction[] = ["inbound", "outbound"];

/** Counters for tests and benchmarks: how much work flushes did. */
export interface BuilderStats {
  chainsRendered: number;
  chainsChanged: number;
  ipsetsChanged: number;
}

export class StateBuilder {
  readonly stats: BuilderStats = { chainsRendered: 0, chainsChanged: 0, ipsetsChanged: 0 };
  private state: DesiredState;
  private readonly nodes = new Map<string, NodeInfo>();
  private dirtyNodes = new Set<string>();
  /** Node → the block routes it contributed. */
  private readonly nodeRoutes = new Map<string, string[]>();
  private problems = new Map<string, ResourceProblem | null>();
  private flushed = false;
  /** The chain writes of the flush in progress. */
  private writes: ChainWrites | undefined;
  /** The services part of each flush (set by the graph when a proxy mode is on). */
  services: ServiceStateRenderer | undefined;
  /** Calico networking: pools, affinities, configuration; decides block routes and tunnels. */
  readonly network: NetworkIndex;

  constructor(
    private readonly cfg: BuilderConfig,
    private readonly active: ActiveRulesCalculator,
    private readonly ipsets: IpSetIndex,
  ) {
    this.network = new NetworkIndex(cfg.nodeName, cfg.networkEnv);
    this.state = produce(emptyState(cfg.nodeName), (d) => {
      for (const v of FAMILIES) {
        const statics = renderStaticTables(cfg, v);
        for (const t of TABLE_NAMES) {
          const table = d.iptables[familyKey(v)][t];
          for (const c of statics[t].chains) putChain(table, c.name, castDraft(renderChain(c)));
          for (const [builtin, h] of Object.entries(statics[t].hooks)) {
            table.hooks[builtin] = castDraft(renderHook(builtin, h.insert, h.append));
          }
        }
        for (const c of renderDispatchChains([], cfg.interfacePrefix)) {
          putChain(d.iptables[familyKey(v)].filter, c.name, castDraft(renderChain(c)));
        }
      }
      Object.assign(d.sysctls, globalSysctls({ ipv6: false }));
    });
  }

  get current(): DesiredState {
    return this.state;
  }

  updateNode(name: string, node: NodeInfo | null): void {
    if (node) this.nodes.set(name, node);
    else this.nodes.delete(name);
    this.dirtyNodes.add(name);
    this.network.updateNode(name, node);
  }

  updateProblem(key: string, problem: ResourceProblem | null): void {
    this.problems.set(key, problem);
  }

  /** Renders everything dirty into a new snapshot (the same one if nothing changed). */
  flush(): DesiredState {
    const dirty = this.active.takeDirty();
    const dirtySets = this.ipsets.takeDirty();
    const dirtyNodes = this.dirtyNodes;
    this.dirtyNodes = new Set();
    const problems = this.problems;
    this.problems = new Map();
    const prev = this.state;
    const portWrites = new ServicePortWrites(prev.services);
    const recipe = (d: Draft<DesiredState>) => {
      // The first flush mutates a private plain copy: chains go straight into it.
      const writes = new ChainWrites(prev, this.flushed ? undefined : (d as DesiredState));
      this.writes = writes;
      for (const key of dirty.policies) {
        const p = this.active.policies.get(key);
        const live = p && this.active.isPolicyActive(key);
        for (const dir of DIRECTIONS) {
          const wanted = live && (dir === "inbound" ? p.ingress : p.egress);
          const rules = wanted ? (dir === "inbound" ? p.inbound : p.outbound) : undefined;
          this.putRuleChain(policyChainName(dir, key), rules);
        }
      }
      for (const id of dirty.profiles) {
        const live = this.active.isProfileActive(id);
        const p = this.active.profiles.get(id);
        for (const dir of DIRECTIONS) {
          // A profile that does not exist fails closed.
          const missing: PolicyRule[] = [{ action: "deny" }];
          const rules = !live ? undefined : p ? (dir === "inbound" ? p.inbound : p.outbound) : missing;
          this.putRuleChain(profileChainName(dir, id), rules);
        }
      }
      let ifacesChanged = false;
      /** Addresses whose local route went away: a remote workload's route for them may be due. */
      const freed = new Set<string>();
      for (const key of dirty.endpoints) {
        const before = prev.endpoints[key];
        const ep = this.active.endpoints.get(key);
        if (before && before.iface !== ep?.iface) ifacesChanged = true;
        if (!before && ep) ifacesChanged = true;
        if (before) this.removeEndpoint(d, before, ep, freed);
        if (ep) this.putEndpoint(d, ep);
      }
      if (ifacesChanged) this.putDispatch(d);
      if (dirty.endpoints.size > 0) {
        const v6 = Object.values(d.endpoints).some((e) => e.ipv6Nets.length > 0);
        if (!v6) delete d.sysctls["net/ipv6/conf/all/forwarding"];
        Object.assign(d.sysctls, globalSysctls({ ipv6: v6 }));
      }
      for (const id of dirtySets) this.putIpSet(d, id);
      const net = this.network.takeDirty();
      const routed = net.all
        ? [...this.network.nodeNames(), ...this.nodeRoutes.keys()]
        : [...dirtyNodes, ...net.nodes, ...net.routes];
      for (const dst of freed) routed.push(...this.network.workloadNodesAt(dst));
      for (const name of new Set(routed)) this.putNodeRoutes(d, name);
      if (net.all || net.nodes.size > 0 || dirtyNodes.size > 0) {
        putNetwork(d, this.network, {
          put: (v, table, c) => this.putChain(v, table, c, c.name),
          staticChain: (v, table, name) => renderStaticTables(this.cfg, v)[table].chains.find((c) => c.name === name),
        });
      }
      this.services?.flush(d, writes, portWrites);
      writes.commit(d);
      for (const [key, problem] of problems) {
        if (problem) d.problems[key] = problem;
        else delete d.problems[key];
      }
    };
    // The first flush renders the whole cluster (start-up): it works on a
    // private copy of the small initial snapshot, without immer's per-object
    // draft and finalize work. Later flushes copy only the parts they change.
    this.state = this.flushed ? produce(prev, recipe) : mutatedCopy(prev, recipe);
    const services = portWrites.next();
    if (services) this.state = { ...this.state, services };
    this.flushed = true;
    return this.state;
  }

  private putRuleChain(name: string, rules: readonly PolicyRule[] | undefined): void {
    for (const v of FAMILIES) {
      this.putChain(v, "filter", rules && { name, rules: renderPolicyRules(rules, v) }, name);
    }
  }

  /** Sets (or with `chain` undefined, deletes) one chain of the flush in progress, keeping identity when unchanged. */
  private putChain(v: IpVersion, table: TableName, chain: Chain | undefined, name: string) {
    this.writes!.write(v, table, name, chain, this.stats);
  }

  private putEndpoint(d: Draft<DesiredState>, ep: WorkloadEndpoint): void {
    const ingress = this.active.orderedPolicies(ep.key, "ingress").map((p) => p.key);
    const egress = this.active.orderedPolicies(ep.key, "egress").map((p) => p.key);
    for (const v of FAMILIES) {
      for (const dir of DIRECTIONS) {
        const policies = (dir === "inbound" ? ingress : egress).map((k) => policyChainName(dir, k));
        const profiles = ep.profileIds.map((id) => profileChainName(dir, id));
        const name = endpointChainName(dir, ep.iface);
        this.putChain(v, "filter", { name, rules: renderEndpointRules(policies, profiles) }, name);
      }
    }
    const state: EndpointState = {
      key: ep.key,
      namespace: ep.namespace,
      pod: ep.pod,
      node: ep.node,
      iface: ep.iface,
      ipv4Nets: ep.ipv4Nets,
      ipv6Nets: ep.ipv6Nets,
      profiles: ep.profileIds,
      ingressPolicies: ingress,
      egressPolicies: egress,
    };
    if (!sameEndpoint(d.endpoints[ep.key], state)) d.endpoints[ep.key] = castDraft(state);
    for (const net of [...ep.ipv4Nets, ...ep.ipv6Nets]) {
      const route: Route = { dst: net, kind: "local-workload", type: "unicast", dev: ep.iface, scope: "link" };
      const old = d.routes[net];
      if (!old || old.dev !== route.dev || old.kind !== route.kind) d.routes[net] = route;
    }
    const sysctls = interfaceSysctls(ep.iface, {
      ipv4: ep.ipv4Nets.length > 0,
      ipv6: ep.ipv6Nets.length > 0,
      rpFilter: this.cfg.rpFilter,
    });
    for (const [k, val] of Object.entries(sysctls)) if (d.sysctls[k] !== val) d.sysctls[k] = val;
  }

  /** Removes what `before` had and `ep` (the endpoint's new version, if any) no longer has. */
  private removeEndpoint(
    d: Draft<DesiredState>,
    before: EndpointState,
    ep: WorkloadEndpoint | undefined,
    freed: Set<string>,
  ): void {
    if (ep?.iface !== before.iface) {
      for (const v of FAMILIES) {
        for (const dir of DIRECTIONS) {
          const name = endpointChainName(dir, before.iface);
          this.putChain(v, "filter", undefined, name);
        }
      }
      for (const k of Object.keys(d.sysctls)) if (k.includes(`/${before.iface}/`)) delete d.sysctls[k];
    }
    const keep = new Set(ep ? [...ep.ipv4Nets, ...ep.ipv6Nets] : []);
    for (const net of [...before.ipv4Nets, ...before.ipv6Nets]) {
      if (!keep.has(net) && d.routes[net]?.dev === before.iface) {
        delete d.routes[net];
        freed.add(net);
      }
    }
    if (!ep) delete d.endpoints[before.key];
  }

  private putDispatch(d: Draft<DesiredState>): void {
    const ifaces = Object.values(d.endpoints).map((e) => e.iface);
    const chains = renderDispatchChains(ifaces, this.cfg.interfacePrefix);
    const names = new Set(chains.map((c) => c.name));
    for (const v of FAMILIES) {
      for (const c of chains) this.putChain(v, "filter", c, c.name);
      const existing = this.writes!.names(v, "filter");
      for (const name of existing) {
        if (isDispatchChild(name) && !names.has(name)) this.putChain(v, "filter", undefined, name);
      }
    }
  }

  private putIpSet(d: Draft<DesiredState>, id: string): void {
    const spec = this.ipsets.spec(id);
    for (const v of FAMILIES) {
      const name = ipSetName(id, v);
      if (!spec) {
        if (d.ipsets[name]) {
          delete d.ipsets[name];
          this.stats.ipsetsChanged++;
        }
        continue;
      }
      // Compare with the plain set: iterating a draft Set makes immer copy it.
      const old = plain(d.ipsets[name]);
      if (old && this.ipsets.hasExactly(id, v, old.members)) continue;
      // Frozen here so immer does not walk (and freeze) thousands of members.
      const set: IpSetState = { name, family: v, type: ipSetType(spec), members: this.ipsets.memberSet(id, v) };
      d.ipsets[name] = castDraft(Object.freeze(set));
      this.stats.ipsetsChanged++;
    }
  }

  private putNodeRoutes(d: Draft<DesiredState>, name: string): void {
    // Per pool and routing mode (network/block-routes.ts); with no pool, via the node's address.
    const { routes: wanted, problem } = this.network.routesFor(name);
    const problemKey = `Node//${name}/routes`;
    if (problem) d.problems[problemKey] = { key: problemKey, message: problem };
    else delete d.problems[problemKey];
    for (const dst of this.nodeRoutes.get(name) ?? []) {
      if (!wanted.has(dst) && d.routes[dst]?.node === name) delete d.routes[dst];
    }
    for (const [dst, route] of wanted) {
      const old = d.routes[dst];
      // A local workload's route wins over a remote one for the same address.
      if (old?.kind === "local-workload") continue;
      if (!old || JSON.stringify(old) !== JSON.stringify(route)) d.routes[dst] = route;
    }
    this.nodeRoutes.set(name, [...wanted.keys()]);
  }
}

function isDispatchChild(name: string): boolean {
  return /^cali-(from|to)-wl-dispatch-/.test(name);
}

function emptyTables(): FamilyTables {
  const t = {} as Record<TableName, TableState>;
  for (const n of TABLE_NAMES) t[n] = tableState();
  return t;
}

export function emptyState(nodeName: string): DesiredState {
  return {
    nodeName,
    iptables: { ipv4: emptyTables(), ipv6: emptyTables() },
    ipsets: {},
    endpoints: {},
    routes: {},
    sysctls: {},
    services: {},
    problems: {},
    network: EMPTY_NETWORK,
  };
}

function sameEndpoint(a: EndpointState | undefined, b: EndpointState): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/** `recipe` applied to a deep copy of `base` (no other snapshot shares its objects). */
function mutatedCopy(base: DesiredState, recipe: (d: Draft<DesiredState>) => void): DesiredState {
  const d = structuredClone(base) as Draft<DesiredState>;
  recipe(d);
  return d as DesiredState;
}
