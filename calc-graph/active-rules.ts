// Active rules and the policy resolver (Felix's ActiveRulesCalculator,
// RuleScanner and PolicyResolver in one node, since with one tier of
// Kubernetes policies they share all their state).
//
//   local endpoints ─┐                       ┌─► per-endpoint ordered policies
//   profiles ────────┼─► local LabelIndex ───┤
//   policies ────────┘   (policy selectors)  └─► active policies/profiles ─► IP set refs
//
// A policy is active while it selects at least one local endpoint; only
// active policies get chains, and only their rules' selectors become IP sets.
// A profile is active while a local endpoint names it; a named profile that
// does not exist renders as DROP (fail closed).

import { HOST_ENDPOINT_KEY_PREFIX } from "./conversion/host-endpoint.js";
import { type IpSetSpec, namedPortSet, selectorSet } from "./ipsets/ids.js";
import type { IpSetIndex } from "./ipsets/ipset-index.js";
import { LabelIndex } from "./label-index.js";
import {
  type HostEndpoint,
  isPortProtocol,
  type PeerMatch,
  type Policy,
  type PolicyRule,
  type PortMatch,
  type Profile,
  type Tier,
  type WorkloadEndpoint,
} from "./model.js";
import { selectorText } from "./selector/selector.js";
import { sortIntoTiers, type TierPolicies } from "./tiers.js";

export interface DirtySet {
  endpoints: Set<string>;
  /** Local host endpoints (`hep:<name>`) whose policies or profiles changed. */
  hostEndpoints: Set<string>;
  policies: Set<string>;
  profiles: Set<string>;
  /** Tiers created, deleted, or whose first policy came or last went (missing-tier reports). */
  tiers: Set<string>;
}

export class ActiveRulesCalculator {
  readonly labels = new LabelIndex();
  readonly endpoints = new Map<string, WorkloadEndpoint>();
  /** This node's host endpoints: items of the same label index, so policies select them too. */
  readonly hostEndpoints = new Map<string, HostEndpoint>();
  readonly policies = new Map<string, Policy>();
  readonly profiles = new Map<string, Profile>();
  /** Calico tiers by name (the converter supplies the implied `default` tier). */
  readonly tiers = new Map<string, Tier>();
  private readonly profileRefs = new Map<string, number>();
  private readonly endpointPolicies = new Map<string, Set<string>>();
  private updatingPolicy: string | undefined;
  /** Policies per tier name, existing or not. */
  private readonly tierRefs = new Map<string, number>();
  private dirty: DirtySet = {
    endpoints: new Set(),
    hostEndpoints: new Set(),
    policies: new Set(),
    profiles: new Set(),
    tiers: new Set(),
  };

  constructor(private readonly ipsets: IpSetIndex) {
    this.labels.onMatch((policyKey, epKey, matched) => {
      const set = this.endpointPolicies.get(epKey) ?? new Set<string>();
      if (matched) set.add(policyKey);
      else set.delete(policyKey);
      this.endpointPolicies.set(epKey, set);
      this.markItemDirty(epKey);
      // A policy on a host endpoint also has a copy in mangle (cali-th- there jumps to it).
      if (epKey.startsWith(HOST_ENDPOINT_KEY_PREFIX)) this.dirty.policies.add(policyKey);
      if (policyKey === this.updatingPolicy) return;
      const count = this.labels.itemsMatching(policyKey).size;
      const policy = this.policies.get(policyKey)!;
      if (matched && count === 1) this.activate(policy);
      else if (!matched && count === 0) this.deactivate(policy);
    });
  }

  isPolicyActive(key: string): boolean {
    return this.labels.itemsMatching(key).size > 0;
  }

  isProfileActive(id: string): boolean {
    return (this.profileRefs.get(id) ?? 0) > 0;
  }

  /**
   * Policies selecting the workload in this direction, by tier, in evaluation
   * order (tiers.ts). preDNAT and doNotTrack policies are host endpoints'
   * only: Felix never applies them to a workload.
   */
  orderedTiers(epKey: string, direction: "ingress" | "egress"): TierPolicies[] {
    const out: Policy[] = [];
    for (const k of this.endpointPolicies.get(epKey) ?? []) {
      const p = this.policies.get(k)!;
      if (p.preDNAT || p.doNotTrack) continue;
      if (direction === "ingress" ? p.ingress : p.egress) out.push(p);
    }
    return sortIntoTiers(out, this.tiers);
  }

  /** A tier's order or default action changes the chains of every endpoint its policies select. */
  updateTier(name: string, tier: Tier | null): void {
    const old = this.tiers.get(name);
    if (tier) this.tiers.set(name, tier);
    else this.tiers.delete(name);
    if (JSON.stringify(old) === JSON.stringify(tier ?? undefined)) return;
    this.dirty.tiers.add(name);
    for (const p of this.policies.values()) {
      if (p.id.tier !== name) continue;
      for (const ep of this.labels.itemsMatching(p.key)) this.markItemDirty(ep);
    }
  }

  /** How many policies name the tier (whether it exists or not). */
  tierPolicyCount(name: string): number {
    return this.tierRefs.get(name) ?? 0;
  }

  private refTier(name: string, delta: 1 | -1): void {
    const n = (this.tierRefs.get(name) ?? 0) + delta;
    if (n > 0) this.tierRefs.set(name, n);
    else this.tierRefs.delete(name);
    this.dirty.tiers.add(name);
  }

  updatePolicy(key: string, policy: Policy | null): void {
    const old = this.policies.get(key);
    if (old) this.refTier(old.id.tier, -1);
    if (policy) this.refTier(policy.id.tier, 1);
    const wasActive = this.isPolicyActive(key);
    this.updatingPolicy = key;
    if (policy) this.policies.set(key, policy);
    // Only a changed selector can change which endpoints match.
    if (!old || !policy || selectorText(old.selector) !== selectorText(policy.selector))
      this.labels.updateSelector(key, policy?.selector ?? null);
    this.updatingPolicy = undefined;
    if (!policy) this.policies.delete(key);
    const isActive = this.isPolicyActive(key);
    if (isActive) for (const s of policySets(policy!)) this.ipsets.addRef(s);
    if (wasActive) for (const s of policySets(old!)) this.ipsets.removeRef(s.id);
    if (wasActive || isActive) this.dirty.policies.add(key);
    if (
      old &&
      policy &&
      isActive &&
      (old.ingress !== policy.ingress ||
        old.egress !== policy.egress ||
        old.order !== policy.order ||
        old.id.tier !== policy.id.tier ||
        old.applyOnForward !== policy.applyOnForward ||
        old.preDNAT !== policy.preDNAT ||
        old.doNotTrack !== policy.doNotTrack)
    ) {
      for (const ep of this.labels.itemsMatching(key)) this.markItemDirty(ep);
    }
  }

  updateProfile(id: string, profile: Profile | null): void {
    const old = this.profiles.get(id);
    if (profile) this.profiles.set(id, profile);
    else this.profiles.delete(id);
    this.labels.updateParent(id, profile?.labels ?? null);
    if (this.isProfileActive(id)) {
      if (profile) for (const s of rulesSets(profile.inbound, profile.outbound)) this.ipsets.addRef(s);
      if (old) for (const s of rulesSets(old.inbound, old.outbound)) this.ipsets.removeRef(s.id);
      this.dirty.profiles.add(id);
    }
  }

  updateEndpoint(key: string, ep: WorkloadEndpoint | null): void {
    const old = this.endpoints.get(key);
    if (ep) this.endpoints.set(key, ep);
    else this.endpoints.delete(key);
    for (const id of ep?.profileIds ?? []) this.refProfile(id, 1);
    for (const id of old?.profileIds ?? []) this.refProfile(id, -1);
    this.labels.updateItem(key, ep?.labels ?? null, ep?.profileIds);
    if (!ep) this.endpointPolicies.delete(key);
    this.dirty.endpoints.add(key);
  }

  /** A local host endpoint (null: gone or no longer local). */
  updateHostEndpoint(key: string, hep: HostEndpoint | null): void {
    const old = this.hostEndpoints.get(key);
    if (hep) this.hostEndpoints.set(key, hep);
    else this.hostEndpoints.delete(key);
    for (const id of hep?.profileIds ?? []) this.refProfile(id, 1);
    for (const id of old?.profileIds ?? []) this.refProfile(id, -1);
    this.labels.updateItem(key, hep?.labels ?? null, hep?.profileIds);
    if (!hep) this.endpointPolicies.delete(key);
    this.dirty.hostEndpoints.add(key);
    for (const id of [...(hep?.profileIds ?? []), ...(old?.profileIds ?? [])]) this.dirty.profiles.add(id);
  }

  /** Every policy selecting the item (a host endpoint: preDNAT and doNotTrack ones too), unordered. */
  policiesOf(key: string): Policy[] {
    return [...(this.endpointPolicies.get(key) ?? [])].map((k) => this.policies.get(k)!);
  }

  /** Whether a local host endpoint is selected by the policy (its chains are then needed in mangle too). */
  policyOnHostEndpoint(policyKey: string): boolean {
    for (const k of this.hostEndpoints.keys()) if (this.labels.selectorsMatching(k).has(policyKey)) return true;
    return false;
  }

  /** Whether a local host endpoint names the profile. */
  profileOnHostEndpoint(id: string): boolean {
    for (const h of this.hostEndpoints.values()) if (h.profileIds.includes(id)) return true;
    return false;
  }

  private markItemDirty(key: string): void {
    if (key.startsWith(HOST_ENDPOINT_KEY_PREFIX)) this.dirty.hostEndpoints.add(key);
    else this.dirty.endpoints.add(key);
  }

  /** Every policy, profile and endpoint is re-rendered by the next flush (the rendering settings changed). */
  markAllDirty(): void {
    for (const k of this.policies.keys()) this.dirty.policies.add(k);
    for (const k of this.profiles.keys()) this.dirty.profiles.add(k);
    for (const k of this.profileRefs.keys()) this.dirty.profiles.add(k);
    for (const k of this.endpoints.keys()) this.dirty.endpoints.add(k);
    for (const k of this.hostEndpoints.keys()) this.dirty.hostEndpoints.add(k);
  }

  /** Re-renders the active policies and profiles whose rules use one of these IP sets (a set went over its bound or back). */
  markSetUsersDirty(setIds: ReadonlySet<string>): void {
    const uses = (specs: IpSetSpec[]) => specs.some((s) => setIds.has(s.id));
    for (const [key, p] of this.policies)
      if (this.isPolicyActive(key) && uses(policySets(p))) this.dirty.policies.add(key);
    for (const id of this.profileRefs.keys()) {
      const p = this.profiles.get(id);
      if (p && uses(rulesSets(p.inbound, p.outbound))) this.dirty.profiles.add(id);
    }
  }

  takeDirty(): DirtySet {
    const d = this.dirty;
    this.dirty = {
      endpoints: new Set(),
      hostEndpoints: new Set(),
      policies: new Set(),
      profiles: new Set(),
      tiers: new Set(),
    };
    return d;
  }

  private refProfile(id: string, delta: 1 | -1): void {
    const n = (this.profileRefs.get(id) ?? 0) + delta;
    if (n > 0) this.profileRefs.set(id, n);
    else this.profileRefs.delete(id);
    const p = this.profiles.get(id);
    if (n === 1 && delta === 1) {
      if (p) for (const s of rulesSets(p.inbound, p.outbound)) this.ipsets.addRef(s);
      this.dirty.profiles.add(id);
    } else if (n === 0) {
      if (p) for (const s of rulesSets(p.inbound, p.outbound)) this.ipsets.removeRef(s.id);
      this.dirty.profiles.add(id);
    }
  }

  private activate(p: Policy): void {
    for (const s of policySets(p)) this.ipsets.addRef(s);
    this.dirty.policies.add(p.key);
  }

  private deactivate(p: Policy): void {
    for (const s of policySets(p)) this.ipsets.removeRef(s.id);
    this.dirty.policies.add(p.key);
  }
}

function policySets(p: Policy): IpSetSpec[] {
  return rulesSets(p.ingress ? p.inbound : [], p.egress ? p.outbound : []);
}

/** The IP sets a list of rules needs (with repeats: refs are counted per use). */
export function rulesSets(...lists: (readonly PolicyRule[])[]): IpSetSpec[] {
  const out: IpSetSpec[] = [];
  for (const rules of lists) {
    for (const r of rules) {
      ruleSets(r, out);
      for (const p of r.anyPeer ?? []) ruleSets(p, out);
      for (const p of r.anyPort ?? []) ruleSets(p, out);
    }
  }
  return out;
}

function ruleSets(r: PeerMatch & PortMatch & Pick<PolicyRule, "dstNotNamedPorts">, out: IpSetSpec[]): void {
  if (r.srcSelector) out.push(selectorSet(r.srcSelector));
  if (r.srcNotSelector) out.push(selectorSet(r.srcNotSelector));
  if (r.dstSelector) out.push(selectorSet(r.dstSelector));
  if (r.dstNotSelector) out.push(selectorSet(r.dstNotSelector));
  if (!isPortProtocol(r.protocol) || !r.namedPortSelector) return;
  if (r.dstNamedPort !== undefined) out.push(namedPortSet(r.namedPortSelector, r.protocol, r.dstNamedPort));
  for (const name of r.dstNotNamedPorts ?? []) out.push(namedPortSet(r.namedPortSelector, r.protocol, name));
}
