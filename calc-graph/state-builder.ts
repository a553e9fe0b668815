// The last node: renders what the batch made dirty into the next immutable
// DesiredState. Only dirty policies, profiles, endpoints, IP sets and nodes
// are rendered; a re-rendered chain whose rule hashes did not change keeps
// its previous object, so "changed" is exactly "different by reference".

import { castDraft, type Draft, enableMapSet, produce } from "immer";
import { globalSysctls } from "../ifaces/sysctls.js";
import { type ChainRenderer, chainRenderer } from "../model/chain-render.js";
import type { ResourceProblem } from "../model/resource.js";
import type { Chain } from "../model/rule.js";
import type { RuleRenderer } from "../model/rule-renderer.js";
import { putChain, type TableName } from "../model/tables.js";
import type { ActiveRulesCalculator } from "./active-rules.js";
import { ChainWrites } from "./chain-writer.js";
import { ignoredFields, mergeConfigs } from "./config/fields.js";
import { type RuleSettings, ruleSettings, sameSettings } from "./config/settings.js";
import { DEFAULT_CHAINS } from "./default-renderer.js";
import type { DesiredState } from "./desired-state.js";
import { type ConfigState, familyKey } from "./desired-state.js";
import { emptyState, mutatedCopy } from "./empty-state.js";
import { type EndpointContext, putEndpoint, removeEndpoint } from "./endpoint-render.js";
import { HostEndpointRenderer } from "./host-endpoints.js";
import { IfaceRenderer } from "./iface-render.js";
import type { IpSetIndex } from "./ipsets/ipset-index.js";
import { putOverfullProblems } from "./ipsets/overfull-problem.js";
import { putIpSet } from "./ipsets/put-ipset.js";
import { Ipv6Filter } from "./ipv6-support.js";
import type { IpVersion, NodeInfo, PolicyRule } from "./model.js";
import type { FelixNetworkConfig } from "./network/model.js";
import { NetworkIndex } from "./network/network-index.js";
import { NodeRoutes } from "./network/node-routes.js";
import { putNetwork } from "./network/render.js";
import { DEFAULT_VXLAN_PORT } from "./network/tunnel-devices.js";
import { deleteKey, latest, plain } from "./plain.js";
import { renderDispatchChains } from "./rules/dispatch.js";
import { type EncapDrops, encapDropsOf } from "./rules/endpoint.js";
import {
  endpointMarkChains,
  endpointMarkProblem,
  isEndpointMarkChain,
  putThisHostSet,
} from "./rules/endpoint-mark-state.js";
import { allowAction, denyAction, type FilterActions, filterActionsOf } from "./rules/filter-actions.js";
import { logPrefixFor } from "./rules/log-prefix.js";
import { type Direction, policyChainName, profileChainName } from "./rules/names.js";
import { PolicySizeProblems } from "./rules/policy-size-problem.js";
import { rpfSkipChain } from "./rules/rpf-skip.js";
import { policyChainPlacement, profileTables, putRuleChain } from "./rules/rule-tables.js";
import { RPF_SKIP_CHAIN, renderStaticTables, type StaticConfig } from "./rules/static.js";
import { nodePortRangesOf } from "./services/service-index.js";
import { ServicePortWrites, type ServiceStateRenderer } from "./services/service-state.js";
import { putStaticTables } from "./static-writes.js";
import { missingTierKey, missingTierProblem } from "./tiers.js";

export { emptyState };

enableMapSet();

export interface BuilderConfig {
  readonly nodeName: string;
  /** Workload interface prefix when no FelixConfiguration/env sets `interfacePrefix`. */
  readonly interfacePrefix: string;
  /** An env-level override of defaultEndpointToHostAction (tests, embedding). */
  readonly endpointToHostAction?: StaticConfig["endpointToHostAction"];
  readonly rpFilter: string;
  /** FELIX_PROXYMODE; iptables adds the service chains and hooks. */
  readonly proxyMode?: StaticConfig["proxyMode"];
  /** FELIX_* overrides (they win over FelixConfiguration). */
  readonly networkEnv?: FelixNetworkConfig;
  /** Felix's KubeIPVSSupportEnabled (IPVS traffic policed through INPUT/OUTPUT by endpoint marks). */
  readonly kubeIPVSSupport?: boolean;
  /** Feature detection: MASQUERADE --random-fully works (featureDetectOverride wins). */
  readonly masqFullyRandom?: boolean;
  /** kube-proxy's flags for the iptables proxy mode. */
  readonly kubeProxy?: StaticConfig["kubeProxy"];
  /** How rules become kernel text (iptables unless the wiring picks another backend). */
  readonly ruleRenderer?: RuleRenderer;
  /** FELIX_POLICYMAXRULES: rendered rules one policy chain may hold per family (rules/rule-bound.ts). */
  readonly maxPolicyRules?: number;
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
  private readonly policySizes: PolicySizeProblems;
  private state: DesiredState;
  /** What is handed out: `state`, or its IPv4-only view (ipv6Support false). */
  private out: DesiredState;
  private readonly v6 = new Ipv6Filter();
  private readonly nodes = new Map<string, NodeInfo>();
  private dirtyNodes = new Set<string>();
  private problems = new Map<string, ResourceProblem | null>();
  private flushed = false;
  /** The chain writes of the flush in progress. */
  private writes: ChainWrites | undefined;
  /** The services part of each flush (set by the graph when a proxy mode is on). */
  services: ServiceStateRenderer | undefined;
  /** Calico networking: pools, affinities, configuration; decides block routes and tunnels. */
  readonly network: NetworkIndex;
  /** Routes to other nodes' blocks and borrowed addresses (network/node-routes.ts). */
  private readonly nodeRoutes: NodeRoutes;
  /** The effective FelixConfiguration/env settings the chains are rendered with, and their actions and marks. */
  private settings: RuleSettings;
  private actions: FilterActions;
  /** Local endpoints by the interface they claim; interfaces in dispatch; colliding claimants reported. */
  private readonly ifaces: IfaceRenderer;
  /** The backend's rule rendering, with its memo of long chains. */
  readonly chains: ChainRenderer;
  /** The encapsulation drops the egress chains were last rendered with (the VXLAN port can change). */
  private encapDrops: EncapDrops;
  /** This host's addresses as the kernel lists them (IPVS support's this-host set), when the agent reads them. */
  private hostAddresses: readonly string[] = [];
  private hostAddressesDirty = false;
  /** This node's host endpoints: which interfaces they police, their chains, whether the plumbing is on. */
  readonly hosts = new HostEndpointRenderer();

  constructor(
    private readonly cfg: BuilderConfig,
    private readonly active: ActiveRulesCalculator,
    private readonly ipsets: IpSetIndex,
  ) {
    this.policySizes = new PolicySizeProblems(cfg.maxPolicyRules);
    this.chains = cfg.ruleRenderer ? chainRenderer(cfg.ruleRenderer) : DEFAULT_CHAINS;
    const action = cfg.endpointToHostAction;
    this.network = new NetworkIndex(
      cfg.nodeName,
      mergeConfigs(cfg.networkEnv, action ? { defaultEndpointToHostAction: action } : undefined),
    );
    this.nodeRoutes = new NodeRoutes(this.network);
    this.ifaces = new IfaceRenderer(cfg.nodeName, {
      putChain: (v, t, c, name) => this.putChain(v, t, c, name),
      putEndpoint: (d, key) => putEndpoint(d, this.active.endpoints.get(key)!, this.endpointContext()),
      deleteLocalRoute: (d, net, key) => this.nodeRoutes.deleteLocalRoute(d, net, key),
    });
    this.settings = this.currentSettings();
    this.actions = filterActionsOf(this.settings);
    this.encapDrops = encapDropsOf(this.settings, this.network.config().vxlanPort ?? DEFAULT_VXLAN_PORT);
    this.state = produce(emptyState(cfg.nodeName), (d) => {
      for (const v of FAMILIES) {
        putStaticTables(
          d,
          v,
          this.staticConfig(),
          (_v, t, c) => {
            if (c)
              putChain(
                d.iptables[familyKey(v)][t],
                c.name,
                castDraft(this.chains.renderChain(c, { family: v, table: t })),
              );
          },
          this.chains,
        );
        const deny = denyAction(this.actions, v);
        for (const c of [
          ...renderDispatchChains([], this.settings.interfacePrefixes, deny, this.actions.dropNflogGroup),
          ...this.markChains([], v),
        ]) {
          putChain(
            d.iptables[familyKey(v)].filter,
            c.name,
            castDraft(this.chains.renderChain(c, { family: v, table: "filter" })),
          );
        }
      }
      Object.assign(d.sysctls, globalSysctls({ ipv6: false }));
    });
    this.out = this.v6.view(this.state, this.settings.ipv6Support);
  }

  private staticConfig(settings = this.settings, hostEndpoints = this.hosts.on): StaticConfig {
    return {
      ...settings,
      proxyMode: this.cfg.proxyMode ?? "off",
      natShards: this.chains.rules.natShards ?? 1,
      kubeIPVSSupport: this.cfg.kubeIPVSSupport === true,
      hostEndpoints,
      ...(this.cfg.kubeProxy ? { kubeProxy: this.cfg.kubeProxy } : {}),
    };
  }

  private currentSettings(): RuleSettings {
    return ruleSettings(this.network.config(), this.cfg.interfacePrefix, { masqFullyRandom: this.cfg.masqFullyRandom });
  }

  get current(): DesiredState {
    return this.out;
  }

  updateNode(name: string, node: NodeInfo | null): void {
    if (node) this.nodes.set(name, node);
    else this.nodes.delete(name);
    this.dirtyNodes.add(name);
    this.network.updateNode(name, node);
  }

  /** The kernel's view of this host's addresses (an input like any other: the next flush renders it). */
  setHostAddresses(addrs: readonly string[]): void {
    this.hostAddresses = [...addrs].sort();
    this.hostAddressesDirty = true;
  }

  updateProblem(key: string, problem: ResourceProblem | null): void {
    this.problems.set(key, problem);
  }

  /** Renders everything dirty into a new snapshot (the same one if nothing changed). */
  flush(): DesiredState {
    // A settings change (FelixConfiguration or env) re-renders every chain: it is rare, and Felix restarts for it.
    const oldSettings = this.settings;
    const settings = this.currentSettings();
    const rerender = !sameSettings(settings, oldSettings);
    if (rerender) {
      this.settings = settings;
      this.actions = filterActionsOf(settings);
      this.active.markAllDirty();
    }
    // A new VXLAN port (FelixConfiguration) changes every egress chain.
    const encap = encapDropsOf(this.settings, this.network.config().vxlanPort ?? DEFAULT_VXLAN_PORT);
    if (JSON.stringify(encap) !== JSON.stringify(this.encapDrops)) {
      this.encapDrops = encap;
      this.active.markAllDirty();
    }
    // A set that went over the size bound (or came back) changes the rules of every policy using it.
    const flips = this.ipsets.takeOverfullFlips();
    if (flips.size > 0) this.active.markSetUsersDirty(flips);
    const dirty = this.active.takeDirty();
    // Host endpoints: resolved again when one changed; the first one in force adds the static plumbing.
    const hepsBefore = this.hosts.on;
    const heps = this.active.hostEndpoints.values();
    const hepRes = this.hosts.prepare(dirty.hostEndpoints.size > 0 || rerender, heps, this.settings.interfacePrefixes);
    const staticFlip = hepsBefore !== this.hosts.on;
    const dirtySets = this.ipsets.takeDirty();
    const dirtyNodes = this.dirtyNodes;
    this.dirtyNodes = new Set();
    const problems = this.problems;
    this.problems = new Map();
    const prev = this.state;
    const portWrites = new ServicePortWrites(prev.services);
    const recipe = (d: Draft<DesiredState>) => {
      // The first flush mutates a private plain copy: chains go straight into it.
      const writes = new ChainWrites(prev, this.flushed ? undefined : (d as DesiredState), this.chains);
      this.writes = writes;
      if (rerender || staticFlip) {
        const put = this.putChain.bind(this);
        const before = this.staticConfig(oldSettings, hepsBefore);
        for (const v of FAMILIES) putStaticTables(d, v, this.staticConfig(), put, this.chains, before);
      }
      for (const key of dirty.policies) {
        const p = this.active.policies.get(key);
        const live = p && this.active.isPolicyActive(key);
        const over: Direction[] = [];
        for (const dir of DIRECTIONS) {
          const wanted = live && (dir === "inbound" ? p.ingress : p.egress);
          const selected = wanted ? (dir === "inbound" ? p.inbound : p.outbound) : undefined;
          const onHep = selected !== undefined && this.active.policyOnHostEndpoint(key);
          const { rules, tables } = policyChainPlacement(p, dir, selected, onHep);
          const logPrefix = p && logPrefixFor(this.settings.logPrefix, p);
          const maxRules = this.cfg.maxPolicyRules;
          if (this.putRuleChain(policyChainName(dir, key), rules, tables, { logPrefix, maxRules })) over.push(dir);
        }
        this.policySizes.put(d, key, p, over);
      }
      for (const id of dirty.profiles) {
        const live = this.active.isProfileActive(id);
        const p = this.active.profiles.get(id);
        for (const dir of DIRECTIONS) {
          // A profile that does not exist fails closed.
          const missing: PolicyRule[] = [{ action: "deny" }];
          const rules = !live ? undefined : p ? (dir === "inbound" ? p.inbound : p.outbound) : missing;
          const onHep = rules !== undefined && this.active.profileOnHostEndpoint(id);
          this.putRuleChain(profileChainName(dir, id), rules, profileTables(dir, onHep));
        }
      }
      // Endpoints, then their interfaces: an interface is rendered from all
      // of its claimants (one: its endpoint; none: gone; two: a collision).
      const touched = new Set<string>();
      for (const key of dirty.endpoints) {
        const before = prev.endpoints[key];
        const ep = this.active.endpoints.get(key);
        if (before) removeEndpoint(d, before, ep, this.nodeRoutes);
        for (const iface of this.ifaces.move(key, ep?.iface)) touched.add(iface);
      }
      let ifacesChanged = false;
      for (const iface of touched) if (this.ifaces.put(d, iface)) ifacesChanged = true;
      if (ifacesChanged || rerender) this.putDispatch(d);
      if (dirty.endpoints.size > 0 || rerender) this.putRpfSkip();
      if (dirty.endpoints.size > 0) {
        const eps = latest(d.endpoints) as DesiredState["endpoints"];
        let v6 = false;
        for (const k in eps) {
          if (eps[k].ipv6Nets.length > 0) {
            v6 = true;
            break;
          }
        }
        if (!v6) deleteKey(d.sysctls, "net/ipv6/conf/all/forwarding");
        Object.assign(d.sysctls, globalSysctls({ ipv6: v6 }));
      }
      for (const id of dirtySets) putIpSet(d, this.ipsets, id, this.stats);
      // Only a set that crossed the bound changes its problem (the message holds no count).
      for (const id of flips) putOverfullProblems(d, this.ipsets, id);
      const net = this.network.takeDirty();
      this.nodeRoutes.flush(d, net, dirtyNodes);
      if (net.all || net.nodes.size > 0 || dirtyNodes.size > 0 || rerender || staticFlip) {
        putNetwork(
          d,
          this.network,
          {
            put: (v, table, c) => this.putChain(v, table, c, c.name),
            staticChain: (v, table, name) =>
              renderStaticTables(this.staticConfig(), v)[table].chains.find((c) => c.name === name),
            hostEndpoints: this.hosts.on,
            allow: allowAction(this.actions),
          },
          this.settings,
        );
      }
      if (this.cfg.kubeIPVSSupport && (net.all || dirtyNodes.has(this.cfg.nodeName) || this.hostAddressesDirty)) {
        this.hostAddressesDirty = false;
        for (const v of FAMILIES) putThisHostSet(d, v, this.nodes.get(this.cfg.nodeName), this.hostAddresses);
      }
      if (hepRes) {
        const put = this.putChain.bind(this);
        this.hosts.render(d, hepRes, this.active, this.actions, this.settings.interfacePrefixes, put);
      }
      endpointMarkProblem(d, this.cfg.kubeIPVSSupport === true, this.settings.markMask, this.cfg.nodeName);
      this.services?.setIpvsMasqMark(this.actions.marks.ipvsMasq);
      this.services?.setNodePortRanges(nodePortRangesOf(this.network.config().kubeNodePortRanges));
      this.services?.flush(d, writes, portWrites);
      writes.commit(d);
      const config: ConfigState = { settings: this.settings, ignored: ignoredFields(this.network.config()) };
      if (JSON.stringify(plain(d.config)) !== JSON.stringify(config)) d.config = castDraft(config);
      for (const [key, problem] of problems) {
        if (problem) d.problems[key] = problem;
        else deleteKey(d.problems, key);
      }
      for (const name of dirty.tiers) {
        const problem = missingTierProblem(name, this.active.tierPolicyCount(name), this.active.tiers.has(name));
        if (problem) d.problems[problem.key] = problem;
        else deleteKey(d.problems, missingTierKey(name));
      }
    };
    // The first flush renders the whole cluster (start-up): it works on a
    // private copy of the small initial snapshot, without immer's per-object
    // draft and finalize work. Later flushes copy only the parts they change.
    try {
      this.state = this.flushed ? produce(prev, recipe) : mutatedCopy(prev, recipe);
    } finally {
      this.writes = undefined; // it holds the previous snapshot: not kept past its flush
    }
    const services = portWrites.next();
    if (services) this.state = { ...this.state, services };
    this.flushed = true;
    this.out = this.v6.view(this.state, this.settings.ipv6Support);
    return this.out;
  }

  /** `maxRules` (policies only): over it, the chain fails closed whole; returns whether it did. */
  private putRuleChain(
    name: string,
    rules: readonly PolicyRule[] | undefined,
    tables: readonly TableName[],
    o: { logPrefix?: string; maxRules?: number } = {},
  ): boolean {
    const sets = this.ipsets;
    const overfull = sets.anyOverfull ? (id: string, v: IpVersion) => sets.isOverfull(id, v) : undefined;
    const put = (v: IpVersion, t: TableName, c: Chain | undefined) => this.putChain(v, t, c, name);
    return putRuleChain(put, this.actions, name, rules, tables, { ...o, overfull });
  }

  /** Sets (or with `chain` undefined, deletes) one chain of the flush in progress, keeping identity when unchanged. */
  private putChain(v: IpVersion, table: TableName, chain: Chain | undefined, name: string) {
    this.writes!.write(v, table, name, chain, this.stats);
  }

  private endpointContext(): EndpointContext {
    return {
      active: this.active,
      settings: this.settings,
      actions: this.actions,
      encapDrops: this.encapDrops,
      rpFilter: this.cfg.rpFilter,
      nodeRoutes: this.nodeRoutes,
      putChain: (v, t, c, name) => this.putChain(v, t, c, name),
    };
  }

  private putDispatch(_d: Draft<DesiredState>): void {
    const ifaces = this.ifaces.ifaces();
    for (const v of FAMILIES) {
      const chains = renderDispatchChains(
        ifaces,
        this.settings.interfacePrefixes,
        denyAction(this.actions, v),
        this.actions.dropNflogGroup,
      );
      chains.push(...this.markChains(ifaces, v));
      const names = new Set(chains.map((c) => c.name));
      for (const c of chains) this.putChain(v, "filter", c, c.name);
      const existing = this.writes!.names(v, "filter");
      for (const name of existing) {
        const ours = isDispatchChild(name) || (this.cfg.kubeIPVSSupport && isEndpointMarkChain(name));
        if (ours && !names.has(name)) this.putChain(v, "filter", undefined, name);
      }
    }
  }

  /** IPVS support: the endpoint-mark chains for these interfaces (colliding ones lead to their drop chains). */
  private markChains(ifaces: readonly string[], v: IpVersion): Chain[] {
    if (!this.cfg.kubeIPVSSupport) return [];
    const deny = denyAction(this.actions, v);
    return endpointMarkChains(ifaces, this.settings.interfacePrefixes, this.actions.marks, deny).put;
  }

  /** raw cali-rpf-skip (workloadSourceSpoofing Any): the local endpoints' allowed source prefixes. */
  private putRpfSkip(): void {
    if (this.settings.workloadSourceSpoofing !== "Any") return;
    for (const v of FAMILIES) {
      this.putChain(v, "raw", rpfSkipChain(this.active.endpoints.values(), this.settings, v), RPF_SKIP_CHAIN);
    }
  }
}

function isDispatchChild(name: string): boolean {
  return /^cali-(from|to)-wl-dispatch-/.test(name);
}
