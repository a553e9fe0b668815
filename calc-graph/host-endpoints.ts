// This node's host endpoints → the interfaces they police and their chains
// (Felix's endpoint manager, resolveHostEndpoints/updateHostEndpoints).
//
// Resolution: an interface is claimed by the host endpoints that name it, or
// (without interfaceName) whose expectedIPs it carries; the alphabetically
// first claimant wins, as in Felix. `*` claims every interface that has no
// endpoint of its own. An interface named like a workload interface (the
// interface prefixes in force) is never a host endpoint: it would take over
// a pod's veth. Unlike Felix, a named interface is policed before it exists
// (its chains simply match nothing until then): safer, never looser.
//
// Everything is re-rendered when anything about host endpoints changed:
// a node has a handful of them.

import { castDraft, type Draft } from "immer";
import type { Chain } from "../model/rule.js";
import type { TableName } from "../model/tables.js";
import type { ActiveRulesCalculator } from "./active-rules.js";
import { ALL_INTERFACES } from "./conversion/host-endpoint.js";
import type { DesiredState } from "./desired-state.js";
import type { HostEndpoint, IpVersion, Policy } from "./model.js";
import { peek } from "./plain.js";
import type { FilterActions } from "./rules/filter-actions.js";
import { hostDispatchChains } from "./rules/host-dispatch.js";
import { type HostPolicies, type HostTier, hostEndpointChains } from "./rules/host-endpoint.js";
import { sortIntoTiers, type TierPolicies } from "./tiers.js";

export type PutChain = (v: IpVersion, table: TableName, chain: Chain | undefined, name: string) => void;

/** What `felix-dump endpoints` shows of a host endpoint in force. */
export interface HostEndpointState {
  readonly name: string;
  readonly node: string;
  /** The interface it polices (`*`: every interface without its own endpoint). */
  readonly iface: string;
  readonly expectedIPs: readonly string[];
  readonly profiles: readonly string[];
  /** Policy keys in evaluation order, per kind of policy. */
  readonly ingressPolicies: readonly string[];
  readonly egressPolicies: readonly string[];
  /** applyOnForward policy on traffic forwarded in through the interface, and out through it. */
  readonly forwardIngressPolicies: readonly string[];
  readonly forwardEgressPolicies: readonly string[];
  readonly preDNATPolicies: readonly string[];
  readonly untrackedPolicies: readonly string[];
}

export interface Resolution {
  /** Interface (or `*`) → the host endpoint policing it. */
  readonly byIface: ReadonlyMap<string, HostEndpoint>;
  /** Host endpoint problem key → what is wrong with it (or null); the render adds policy problems. */
  readonly problems: Map<string, string | null>;
}

const FAMILIES: readonly IpVersion[] = [4, 6];
const TABLES = ["raw", "mangle", "filter"] as const;
/** Beside the resource's own key, which its validation problems use. */
const problemKey = (name: string) => `HostEndpoint//${name}#interface`;

export class HostEndpointRenderer {
  /** Host interface → its addresses (for host endpoints placed by expectedIPs). */
  private hostIfaces: ReadonlyMap<string, readonly string[]> = new Map();
  private ifacesDirty = false;
  /** Chains rendered by the last render, per `v|table`. */
  private rendered = new Map<string, Set<string>>();
  /** Problem keys reported by the last render. */
  private reported = new Set<string>();

  /** A host endpoint is in force: the static tables carry the host endpoint plumbing. */
  on = false;

  /** Resolves again when host endpoints or this host's interfaces changed (undefined: nothing did). */
  prepare(changed: boolean, heps: Iterable<HostEndpoint>, workloadPrefixes: readonly string[]): Resolution | undefined {
    const ifaces = this.takeIfacesDirty();
    if (!changed && !ifaces) return undefined;
    const res = this.resolve(heps, workloadPrefixes);
    this.on = res.byIface.size > 0;
    return res;
  }

  setHostInterfaces(ifaces: ReadonlyMap<string, readonly string[]>): void {
    this.hostIfaces = ifaces;
    this.ifacesDirty = true;
  }

  private takeIfacesDirty(): boolean {
    const d = this.ifacesDirty;
    this.ifacesDirty = false;
    return d;
  }

  resolve(heps: Iterable<HostEndpoint>, workloadPrefixes: readonly string[]): Resolution {
    const byIface = new Map<string, HostEndpoint>();
    const problems = new Map<string, string | null>();
    const isWorkload = (i: string) => workloadPrefixes.some((p) => i.startsWith(p));
    const claim = (iface: string, hep: HostEndpoint) => {
      const cur = byIface.get(iface);
      if (!cur || hep.name < cur.name) byIface.set(iface, hep);
    };
    for (const hep of heps) {
      problems.set(problemKey(hep.name), null);
      if (hep.interfaceName !== "") {
        if (hep.interfaceName !== ALL_INTERFACES && isWorkload(hep.interfaceName)) {
          problems.set(
            problemKey(hep.name),
            `interfaceName ${hep.interfaceName} is a workload interface (prefixes ${workloadPrefixes.join(",")}): not policed as a host endpoint`,
          );
          continue;
        }
        claim(hep.interfaceName, hep);
        continue;
      }
      const wanted = new Set([...hep.ipv4Nets, ...hep.ipv6Nets].map((n) => n.replace(/\/\d+$/, "")));
      let found = false;
      for (const [iface, addrs] of this.hostIfaces) {
        if (isWorkload(iface) || !addrs.some((a) => wanted.has(a))) continue;
        claim(iface, hep);
        found = true;
      }
      if (!found) {
        problems.set(
          problemKey(hep.name),
          "no interface of this host carries its expectedIPs yet: nothing policed until one does",
        );
      }
    }
    return { byIface, problems };
  }

  /** Writes every host endpoint chain and dispatch chain; deletes the ones no longer wanted. */
  render(
    d: Draft<DesiredState>,
    res: Resolution,
    active: ActiveRulesCalculator,
    actions: FilterActions,
    workloadPrefixes: readonly string[],
    put: PutChain,
  ): void {
    const on = res.byIface.size > 0;
    const policies = new Map<string, HostPolicies>();
    const state: Record<string, HostEndpointState> = {};
    for (const [iface, hep] of [...res.byIface].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const p = splitPolicies(sortIntoTiers(active.policiesOf(hep.key), active.tiers));
      policies.set(iface, p);
      state[`${hep.name}@${iface}`] = {
        name: hep.name,
        node: hep.node,
        iface,
        expectedIPs: [...hep.ipv4Nets, ...hep.ipv6Nets].map((n) => n.replace(/\/\d+$/, "")),
        profiles: hep.profileIds,
        ingressPolicies: keysOf(p.normal, "ingress"),
        egressPolicies: keysOf(p.normal, "egress"),
        forwardIngressPolicies: keysOf(p.forward, "ingress"),
        forwardEgressPolicies: keysOf(p.forward, "egress"),
        preDNATPolicies: keysOf(p.preDNAT, "ingress"),
        untrackedPolicies: [...new Set([...keysOf(p.untracked, "ingress"), ...keysOf(p.untracked, "egress")])],
      };
    }
    // As in Felix: untracked policy is not supported on the all-interfaces endpoint (it has no raw chains).
    const all = res.byIface.get(ALL_INTERFACES);
    if (all && policies.get(ALL_INTERFACES)!.untracked.length > 0) {
      const key = problemKey(all.name);
      if (!res.problems.get(key)) {
        res.problems.set(
          key,
          'doNotTrack policy does not apply to an interfaceName "*" host endpoint (as in Felix): ignored there',
        );
      }
    }
    const ifaces = [...policies.keys()];
    const withPolicy = (k: keyof HostPolicies) => ifaces.filter((i) => policies.get(i)![k].length > 0);
    const now = new Map<string, Set<string>>();
    for (const v of FAMILIES) {
      const chains: Record<TableName, Chain[]> = { raw: [], mangle: [], filter: [], nat: [] };
      if (on) {
        for (const t of TABLES) {
          chains[t].push(
            ...hostDispatchChains(t, ifaces, withPolicy("preDNAT"), withPolicy("untracked"), workloadPrefixes),
          );
        }
        for (const iface of ifaces) {
          const hep = res.byIface.get(iface)!;
          const c = hostEndpointChains(iface, policies.get(iface)!, hep.profileIds, actions, v);
          for (const t of TABLES) chains[t].push(...c[t]);
        }
      }
      for (const t of TABLES) {
        const names = new Set(chains[t].map((c) => c.name));
        for (const c of chains[t]) put(v, t, c, c.name);
        for (const old of this.rendered.get(`${v}|${t}`) ?? []) if (!names.has(old)) put(v, t, undefined, old);
        now.set(`${v}|${t}`, names);
      }
    }
    this.rendered = now;
    if (JSON.stringify(d.hostEndpoints ?? {}) !== JSON.stringify(state)) {
      if (Object.keys(state).length === 0) delete d.hostEndpoints;
      else d.hostEndpoints = castDraft(state);
    }
    const reported = new Set<string>();
    for (const [key, problem] of res.problems) {
      if (!problem) continue;
      reported.add(key);
      if (peek(d.problems, key)?.message !== problem) d.problems[key] = { key, message: problem };
    }
    for (const key of this.reported) if (!reported.has(key)) delete d.problems[key];
    this.reported = reported;
  }
}

/**
 * Felix's split of a host endpoint's policies (in tier order): doNotTrack ones
 * are untracked policy, preDNAT ones (ingress only) pre-DNAT policy, the rest
 * normal policy, and forward policy too with applyOnForward. Each kind keeps
 * the tiers that hold some of its policies, with their default actions.
 */
export function splitPolicies(tiers: readonly TierPolicies[]): HostPolicies {
  const kinds: Record<keyof HostPolicies, HostTier[]> = { normal: [], forward: [], preDNAT: [], untracked: [] };
  const isKind: Record<keyof HostPolicies, (p: Policy, dir: "ingress" | "egress") => boolean> = {
    untracked: (p) => p.doNotTrack === true,
    preDNAT: (p, dir) => p.preDNAT === true && !p.doNotTrack && dir === "ingress",
    normal: (p) => !p.doNotTrack && !p.preDNAT,
    forward: (p) => !p.doNotTrack && !p.preDNAT && p.applyOnForward === true,
  };
  for (const t of tiers) {
    for (const kind of Object.keys(kinds) as (keyof HostPolicies)[]) {
      const ingress = t.policies.filter((p) => p.ingress && isKind[kind](p, "ingress")).map((p) => p.key);
      const egress = t.policies.filter((p) => p.egress && isKind[kind](p, "egress")).map((p) => p.key);
      if (ingress.length + egress.length === 0) continue;
      kinds[kind].push({ name: t.name, defaultAction: t.defaultAction, ingress, egress });
    }
  }
  return kinds;
}

function keysOf(tiers: readonly HostTier[], dir: "ingress" | "egress"): string[] {
  return tiers.flatMap((t) => (dir === "ingress" ? t.ingress : t.egress));
}
