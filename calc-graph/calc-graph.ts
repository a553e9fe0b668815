// The calculation graph, wired in one place. Pure: no I/O, no clocks. Each
// batch of resource updates yields one DesiredState snapshot.
//
//  ResourceUpdate[] ──► ResourceConverter (dispatch by kind, k8s → Calico model)
//                         │ endpoints$ ──► EndpointGuard (addresses vs pools and nodes)
//                         │                 │ ──► NetworkIndex (borrowed-address routes)
//                         │                 ├──────────────────────────────┐
//                         │                 │ (local ones)                 │ (all)
//                         │ profiles$ ──────┼──────────────┐               │
//                         │ policies$, tiers$ ▼            ▼               ▼
//                         │           ActiveRulesCalculator ──refs──► IpSetIndex
//                         │           (local LabelIndex:               (LabelIndex over
//                         │            policy ↔ endpoint,               every endpoint:
//                         │            ordered policies)                set members)
//                         │ hostEndpoints$ ─► IpSetIndex (all) + ActiveRulesCalculator (this node's)
//                         │ networkSets$ ──► IpSetIndex (labelled nets, never policed)
//                         │ services$ ──► ServiceIndex (Service ⋈ EndpointSlice, pod CIDRs)
//                         │                   │ dirty services ─► ServiceStateRenderer (in flush)
//                         │ nodes$ ─────────┐   │ dirty                  │ dirty
//                         │ problems$ ──────┤   ▼                        ▼
//                         └───────────────► StateBuilder ── flush() ──► DesiredState
//
// Invariants (see also calc-graph/README.md):
//   - output depends only on the current inputs, never on their order or history
//     (no hysteresis), except that an invalid update of a valid policy keeps
//     the valid version in force;
//   - every index adds and removes under identical keys;
//   - anything missing fails closed (unknown profile → DROP, unknown interface → DROP);
//   - a flush renders only what the batch made dirty.

import type { ResourceUpdate } from "../model/resource.js";
import type { RuleRenderer } from "../model/rule-renderer.js";
import { ActiveRulesCalculator } from "./active-rules.js";
import { ResourceConverter } from "./converter.js";
import type { DesiredState } from "./desired-state.js";
import { EndpointGuard } from "./endpoint-guard.js";
import { IpSetIndex } from "./ipsets/ipset-index.js";
import type { NodeInfo } from "./model.js";
import type { FelixNetworkConfig } from "./network/model.js";
import type { NetworkIndex } from "./network/network-index.js";
import { DEFAULT_MAX_POLICY_RULES } from "./rules/rule-bound.js";
import type { EndpointToHostAction } from "./rules/static.js";
import { IpvsStateBuilder } from "./services/ipvs-builder.js";
import type { IpvsOptions } from "./services/ipvs-desired.js";
import { DEFAULT_KUBE_PROXY_OPTIONS, type KubeProxyOptions, type ProxyMode } from "./services/model.js";
import { ServiceIndex } from "./services/service-index.js";
import { ServiceStateRenderer } from "./services/service-state.js";
import { ZONE_LABEL } from "./services/topology.js";
import { StateBuilder } from "./state-builder.js";

export interface GraphConfig {
  readonly nodeName: string;
  /** The first of FELIX_INTERFACEPREFIX: how pods' veths are named (as libcalico-go does); default `cali`. */
  readonly interfacePrefix?: string;
  /**
   * Overrides defaultEndpointToHostAction at env level (tests, embedding);
   * FELIX_DEFAULTENDPOINTTOHOSTACTION arrives in networkEnv. Default ACCEPT.
   */
  readonly endpointToHostAction?: EndpointToHostAction;
  /** rp_filter for workload interfaces; default "1" (strict). */
  readonly rpFilter?: string;
  /** FELIX_PROXYMODE; default off (kube-proxy proxies services). */
  readonly proxyMode?: ProxyMode;
  /** IPVS proxy mode settings (FELIX_IPVSSCHEDULER, FELIX_KUBENODEPORTRANGES). */
  readonly ipvs?: IpvsOptions;
  /** FELIX_* settings (config/fields.ts): they win over FelixConfiguration resources. */
  readonly networkEnv?: FelixNetworkConfig;
  /**
   * Felix's KubeIPVSSupportEnabled: IPVS-forwarded traffic is policed in
   * INPUT/OUTPUT. On with proxyMode ipvs; the daemon also turns it on when
   * kube-proxy's kube-ipvs0 exists at start-up.
   */
  readonly kubeIPVSSupport?: boolean;
  /**
   * What feature detection found: MASQUERADE --random-fully works (default
   * true); featureDetectOverride (FelixConfiguration or env) wins over it.
   */
  readonly masqFullyRandom?: boolean;
  /** This host's default-route gateways, when known: no Service may claim them as external or LB IPs. */
  readonly gatewayIPs?: readonly string[];
  /** kube-proxy's flags for the iptables proxy mode (FELIX_KUBEPROXY*); default kube-proxy's defaults. */
  readonly kubeProxy?: KubeProxyOptions;
  /** How rules become kernel text: iptables-save lines by default; the wiring picks nftables. */
  readonly ruleRenderer?: RuleRenderer;
  /**
   * FELIX_MAXIPSETSIZE (Felix's MaxIpsetSize, default 1048576): the most
   * members one IP set may hold per family; a set over it is not programmed
   * and the rules using it fail closed (rules/overfull-sets.ts).
   */
  readonly maxIpSetSize?: number;
  /**
   * FELIX_POLICYMAXRULES (felix-ts's own, default 50000): the rules one
   * policy chain may render per family; a policy over it fails closed whole
   * (rules/rule-bound.ts).
   */
  readonly maxPolicyRules?: number;
  /**
   * FELIX_SERVICEMAXENDPOINTPORTS (felix-ts's own, default 100000): a Service
   * with more (port, endpoint) pairs is left out whole and reported.
   */
  readonly maxServiceEndpointPorts?: number;
}

export class CalcGraph {
  readonly converter: ResourceConverter;
  readonly ipsets: IpSetIndex;
  readonly active: ActiveRulesCalculator;
  readonly builder: StateBuilder;
  /** Services ⋈ EndpointSlices (fed only when a proxy mode is on). */
  readonly services: ServiceIndex;

  constructor(cfg: GraphConfig) {
    this.ipsets = new IpSetIndex(cfg.maxIpSetSize);
    this.active = new ActiveRulesCalculator(this.ipsets);
    const interfacePrefix = cfg.interfacePrefix ?? "cali";
    this.converter = new ResourceConverter({ interfacePrefix, services: (cfg.proxyMode ?? "off") !== "off" });
    this.builder = new StateBuilder(
      {
        nodeName: cfg.nodeName,
        interfacePrefix,
        ...(cfg.endpointToHostAction ? { endpointToHostAction: cfg.endpointToHostAction } : {}),
        rpFilter: cfg.rpFilter ?? "1",
        proxyMode: cfg.proxyMode ?? "off",
        networkEnv: cfg.networkEnv,
        kubeIPVSSupport: cfg.kubeIPVSSupport ?? cfg.proxyMode === "ipvs",
        masqFullyRandom: cfg.masqFullyRandom ?? true,
        kubeProxy: cfg.kubeProxy ?? DEFAULT_KUBE_PROXY_OPTIONS,
        ...(cfg.ruleRenderer ? { ruleRenderer: cfg.ruleRenderer } : {}),
        maxPolicyRules: cfg.maxPolicyRules ?? DEFAULT_MAX_POLICY_RULES,
      },
      this.active,
      this.ipsets,
    );

    const localKeys = new Set<string>();
    const guard = new EndpointGuard();
    this.converter.endpoints$.subscribe(({ key, ep }) => guard.updateEndpoint(key, ep));
    guard.problems$.subscribe(({ key, problem }) => this.builder.updateProblem(key, problem));
    guard.endpoints$.subscribe(({ key, ep }) => {
      this.builder.network.updateWorkload(key, ep);
      // IP sets first: a policy activated by this endpoint must find the
      // endpoint's own IPs already indexed.
      this.ipsets.updateEndpoint(key, ep);
      const local = ep !== null && ep.node === cfg.nodeName;
      if (local) {
        localKeys.add(key);
        this.active.updateEndpoint(key, ep);
      } else if (localKeys.delete(key)) {
        this.active.updateEndpoint(key, null);
      }
    });
    this.converter.profiles$.subscribe(({ id, profile }) => {
      this.ipsets.updateParent(id, profile?.labels ?? null);
      this.active.updateProfile(id, profile);
    });
    // preDNAT and doNotTrack policies reach the active rules too: host endpoints take them (host-endpoints.ts);
    // a workload never does (ActiveRulesCalculator.orderedTiers skips them), as in Felix.
    this.converter.policies$.subscribe(({ key, policy }) => this.active.updatePolicy(key, policy));
    this.converter.tiers$.subscribe(({ name, tier }) => this.active.updateTier(name, tier));
    // Host endpoints: every one's expectedIPs feed IP sets; this node's are policed.
    const localHeps = new Set<string>();
    this.converter.hostEndpoints$.subscribe(({ key, hep }) => {
      this.ipsets.updateEndpoint(key, hep);
      if (hep && hep.node === cfg.nodeName) {
        localHeps.add(key);
        this.active.updateHostEndpoint(key, hep);
      } else if (localHeps.delete(key)) {
        this.active.updateHostEndpoint(key, null);
      }
    });
    // Network sets only feed IP sets: no policy applies to them.
    this.converter.networkSets$.subscribe(({ key, set }) => this.ipsets.updateEndpoint(key, set));
    this.converter.nodes$.subscribe(({ name, node }) => {
      this.builder.updateNode(name, node);
      guard.updateNode(name, node);
    });
    this.services = new ServiceIndex(cfg.nodeName, cfg.kubeProxy?.nodePortAddresses, cfg.maxServiceEndpointPorts);
    if ((cfg.proxyMode ?? "off") !== "off") {
      const ipvs =
        cfg.proxyMode === "ipvs" ? new IpvsStateBuilder(cfg.ipvs, this.builder.stats, this.builder.chains) : undefined;
      this.builder.services = new ServiceStateRenderer(
        this.services,
        cfg.proxyMode!,
        this.builder.stats,
        ipvs,
        cfg.kubeProxy ?? DEFAULT_KUBE_PROXY_OPTIONS,
      );
      this.converter.services$.subscribe((u) => {
        if (u.kind === "Service") this.services.updateService(u.key, u.service);
        else this.services.updateSlice(u.key, u.slice);
      });
      if (cfg.gatewayIPs) this.services.setGatewayIPs(cfg.gatewayIPs);
      this.converter.nodes$.subscribe(({ name, node }) => {
        this.services.updateNodeCIDRs(name, node?.podCIDRs ?? null);
        this.services.updateNodeIPs(name, node && nodeAddresses(node));
        if (name === cfg.nodeName) {
          this.services.setLocalNodeIPs(node?.internalIPs ?? []);
          this.services.setLocalZone(node?.labels?.[ZONE_LABEL]);
        }
      });
    }
    this.converter.problems$.subscribe(({ key, problem }) => this.builder.updateProblem(key, problem));
    this.converter.network$.subscribe((u) => {
      this.builder.network.update(u);
      if (u.kind === "pool") guard.setPools([...this.builder.network.pools.values()].map((p) => p.cidr));
      // kube-proxy's "cluster CIDR" for masquerading: the enabled IP pools, else the nodes' podCIDRs.
      const pools = [...this.builder.network.enabledPoolCidrs(4), ...this.builder.network.enabledPoolCidrs(6)];
      this.services.setPoolCIDRs(pools);
    });
    this.converter.start();
  }

  /** This host's interfaces and their addresses (host endpoints placed by expectedIPs); next apply. */
  setHostInterfaces(ifaces: ReadonlyMap<string, readonly string[]>): void {
    this.builder.hosts.setHostInterfaces(ifaces);
  }

  /** This host's addresses as read from the kernel (IPVS support); takes effect with the next apply. */
  setHostAddresses(addrs: readonly string[]): void {
    this.builder.setHostAddresses(addrs);
    this.services.setHostAddresses(addrs);
  }

  /** Applies one batch and returns the resulting snapshot. */
  apply(batch: readonly ResourceUpdate[]): DesiredState {
    this.ingest(batch);
    return this.builder.flush();
  }

  /**
   * Takes in updates without computing a snapshot: a batch handed over in
   * parts is ingested part by part and applied with its last part.
   */
  ingest(batch: readonly ResourceUpdate[]): void {
    for (const u of batch) this.converter.apply(u);
  }

  get current(): DesiredState {
    return this.builder.current;
  }

  /** Pools and routing: e.g. `network.clusterPodCidrs(4)` (pool CIDRs, else nodes' pod CIDRs). */
  get network(): NetworkIndex {
    return this.builder.network;
  }
}

/** Runs the graph over one batch: what `felix-dump` and the golden tests use. */
export function computeDesiredState(cfg: GraphConfig, updates: readonly ResourceUpdate[]): DesiredState {
  return new CalcGraph(cfg).apply(updates);
}

/** Every address a node claims (no Service may claim one as its own frontend: CVE-2020-8554). */
function nodeAddresses(n: NodeInfo): string[] {
  const out = [...n.internalIPs];
  for (const a of [n.ipv4Address, n.vxlanTunnelAddr, n.ipipTunnelAddr]) if (a) out.push(a.split("/")[0]);
  return out;
}
