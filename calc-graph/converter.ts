// The first node of the graph: dispatches resource updates by kind, converts
// them to the Calico model and emits model updates. A conversion failure is
// reported as a problem and never widens access:
//   - a pod or node that fails is withdrawn (its IPs leave every set; a local
//     pod's interface falls to "Unknown interface" DROP);
//   - a policy that fails keeps its last good version; a policy whose rules
//     fail keeps its selector with no rules, isolating what it selects.
//
// Kubernetes always has the built-in namespaces and a `default` service
// account in every namespace; manifests rarely list them, so their profiles
// are implied unless a manifest gives them.

import type { CalicoPolicy, CalicoTier } from "../model/calico.js";
import type { NetworkPolicy, Node, Pod } from "../model/k8s.js";
import { type ResourceProblem, type ResourceUpdate, resourceKey } from "../model/resource.js";
import { Subject } from "../model/rx.js";
import { ClusterPolicies } from "./cluster-policies.js";
import { calicoPolicyKey, calicoPolicyToPolicy, tierFromObject } from "./conversion/calico-policy.js";
import { hostEndpointKey, hostEndpointToModel } from "./conversion/host-endpoint.js";
import { NAMESPACE_PROFILE_PREFIX, namespaceProfileId, serviceAccountProfileId } from "./conversion/labels.js";
import { K8S_POLICY_PREFIX, networkPolicyToPolicy } from "./conversion/network-policy.js";
import { globalNetworkSetKey, networkSetKey, networkSetToModel } from "./conversion/network-set.js";
import { nodeToNodeInfo } from "./conversion/node.js";
import { podToWorkloadEndpoint } from "./conversion/pod.js";
import { namespaceToProfile, serviceAccountToProfile } from "./conversion/profile.js";
import { validateObject, validatePolicyRules } from "./conversion/validate.js";
import {
  type HostEndpoint,
  type NetworkSet,
  type NodeInfo,
  type Policy,
  type Profile,
  policyKey,
  type Tier,
  type WorkloadEndpoint,
} from "./model.js";
import { convertNetworkResource } from "./network/convert-update.js";
import type { NetworkUpdate } from "./network/model.js";
import { type ServiceUpdate, serviceUpdate } from "./services/service-update.js";
import { checkStaged } from "./staged.js";
import { STATIC_TIERS } from "./tiers.js";

export const BUILTIN_NAMESPACES = ["default", "kube-node-lease", "kube-public", "kube-system"];
/** Calico's built-in allow-all profile (kube-controllers' automatic host endpoints name it). */
export const DEFAULT_ALLOW_PROFILE = "projectcalico-default-allow";

export interface ConverterConfig {
  readonly interfacePrefix: string;
  /** Convert Services and EndpointSlices (a proxy mode is on); otherwise they are ignored. */
  readonly services?: boolean;
}

export class ResourceConverter {
  readonly endpoints$ = new Subject<{ key: string; ep: WorkloadEndpoint | null }>();
  readonly profiles$ = new Subject<{ id: string; profile: Profile | null }>();
  readonly policies$ = new Subject<{ key: string; policy: Policy | null }>();
  /** Calico tiers; `default` is implied (Calico's order and Deny) unless a manifest gives it. */
  readonly tiers$ = new Subject<{ name: string; tier: Tier | null }>();
  readonly nodes$ = new Subject<{ name: string; node: NodeInfo | null }>();
  readonly problems$ = new Subject<{ key: string; problem: ResourceProblem | null }>();
  readonly services$ = new Subject<ServiceUpdate>();
  /** IP pools, block affinities, FelixConfiguration. */
  readonly network$ = new Subject<NetworkUpdate>();
  readonly hostEndpoints$ = new Subject<{ key: string; hep: HostEndpoint | null }>();
  readonly networkSets$ = new Subject<{ key: string; set: NetworkSet | null }>();

  private readonly namespaces = new Map<string, Profile>();
  private readonly serviceAccounts = new Map<string, Profile>();
  private readonly emittedProfiles = new Map<string, Profile>();
  private readonly goodPolicies = new Set<string>();
  /** Calico policies and tiers (by resource key) whose last valid version is in force. */
  private readonly goodCalico = new Set<string>();
  private readonly clusterPolicies = new ClusterPolicies(
    (key, policy) => this.policies$.next({ key, policy }),
    (key, u, message) => this.problem(key, u, message),
  );

  constructor(private readonly cfg: ConverterConfig) {}

  /** Emits the implied profiles; call once before the first update. */
  start(): void {
    for (const ns of BUILTIN_NAMESPACES) this.refreshNamespace(ns);
    for (const tier of STATIC_TIERS) this.tiers$.next({ name: tier.name, tier });
    const allowAll = [{ action: "allow" as const }];
    this.emitProfile(DEFAULT_ALLOW_PROFILE, {
      id: DEFAULT_ALLOW_PROFILE,
      labels: {},
      inbound: allowAll,
      outbound: allowAll,
    });
  }

  apply(update: ResourceUpdate): void {
    const key = resourceKey(update);
    // Validated as the API server would before anything is converted. An
    // invalid object counts as absent (a pod, node, namespace or service
    // account is withdrawn, which only removes access), except a policy or a
    // pool, affinity or configuration, whose last valid version stays in force.
    const invalid = update.value ? validateObject(update.kind, update.value) : undefined;
    const u = invalid && !KEEP_LAST_VALID.has(update.kind) ? { ...update, value: null } : update;
    try {
      if (invalid && KEEP_LAST_VALID.has(update.kind)) {
        this.rejected(key, update, invalid);
        return;
      }
      switch (u.kind) {
        case "Namespace":
          if (u.value) this.namespaces.set(u.name, namespaceToProfile(u.value));
          else this.namespaces.delete(u.name);
          this.refreshNamespace(u.name);
          this.problem(key, u, invalid && `${invalid} (namespace ignored: its pods stay isolated)`);
          break;
        case "ServiceAccount": {
          const id = serviceAccountProfileId(u.namespace || "default", u.name);
          if (u.value) this.serviceAccounts.set(id, serviceAccountToProfile(u.value));
          else this.serviceAccounts.delete(id);
          this.refreshServiceAccount(u.namespace || "default", u.name);
          this.problem(key, u, invalid && `${invalid} (service account ignored: its pods stay isolated)`);
          break;
        }
        case "Pod":
          this.applyPod(key, u, invalid);
          break;
        case "NetworkPolicy":
          this.applyPolicy(key, u);
          break;
        case "Tier":
          this.applyTier(key, u);
          break;
        case "CalicoNetworkPolicy":
        case "GlobalNetworkPolicy":
          this.applyCalicoPolicy(key, u);
          break;
        case "ClusterNetworkPolicy":
          this.clusterPolicies.apply(key, u);
          break;
        case "StagedNetworkPolicy":
        case "StagedGlobalNetworkPolicy":
        case "StagedKubernetesNetworkPolicy":
          // Validated and reported, never enforced (felix-dump policies shows what they would change).
          this.problem(key, u, u.value ? checkStaged(u.kind, u.value) : undefined);
          break;
        case "Node":
          this.applyNode(key, u, invalid);
          break;
        case "IPPool":
        case "BlockAffinity":
        case "FelixConfiguration":
          this.applyNetwork(key, u);
          break;
        case "HostEndpoint":
          this.hostEndpoints$.next({ key: hostEndpointKey(u.name), hep: u.value && hostEndpointToModel(u.value) });
          this.problem(key, u, undefined);
          break;
        case "NetworkSet":
        case "GlobalNetworkSet": {
          const ns = u.kind === "NetworkSet" ? u.namespace || "default" : undefined;
          const setKey = ns === undefined ? globalNetworkSetKey(u.name) : networkSetKey(ns, u.name);
          this.networkSets$.next({ key: setKey, set: u.value && networkSetToModel(u.value, ns) });
          this.problem(key, u, undefined);
          break;
        }
        case "Service":
        case "EndpointSlice": {
          if (!this.cfg.services) break;
          const converted = serviceUpdate(u);
          this.services$.next(converted.update);
          this.problem(key, u, invalid ? `${invalid} (not proxied)` : converted.problem);
          break;
        }
      }
    } catch (e) {
      this.problem(key, u, (e as Error).message);
    }
  }

  private applyPod(key: string, u: ResourceUpdate, invalid: string | undefined): void {
    const epKey = `${u.namespace || "default"}/${u.name}`;
    let ep: WorkloadEndpoint | null = null;
    let error: string | undefined = invalid && `${invalid} (pod withdrawn)`;
    if (u.value) {
      try {
        ep = podToWorkloadEndpoint(u.value as Pod, this.cfg.interfacePrefix);
      } catch (e) {
        error = (e as Error).message;
      }
    }
    this.endpoints$.next({ key: epKey, ep });
    this.problem(key, u, error, (u.value as Pod | null)?.spec?.nodeName);
  }

  private applyPolicy(key: string, u: ResourceUpdate): void {
    const pKey = policyKey({ tier: "default", namespace: u.namespace || "default", name: K8S_POLICY_PREFIX + u.name });
    if (!u.value) {
      this.goodPolicies.delete(pKey);
      this.policies$.next({ key: pKey, policy: null });
      this.problem(key, u, undefined);
      return;
    }
    let converted: ReturnType<typeof networkPolicyToPolicy>;
    try {
      converted = networkPolicyToPolicy(u.value as NetworkPolicy);
    } catch (e) {
      const kept = this.goodPolicies.has(pKey) ? " (the last valid version stays in force)" : "";
      this.problem(key, u, `${(e as Error).message}${kept}`);
      return;
    }
    const invalidRules = validatePolicyRules((u.value as NetworkPolicy).spec);
    const ruleError = invalidRules ?? converted.ruleError;
    const policy = invalidRules ? { ...converted.policy, inbound: [], outbound: [] } : converted.policy;
    this.goodPolicies.add(pKey);
    this.policies$.next({ key: pKey, policy });
    this.problem(key, u, ruleError && `${ruleError} (policy enforced with no rules: selected pods stay isolated)`);
  }

  private applyTier(key: string, u: ResourceUpdate): void {
    if (!u.value) {
      this.goodCalico.delete(key);
      this.tiers$.next({ name: u.name, tier: STATIC_TIERS.find((t) => t.name === u.name) ?? null });
      this.problem(key, u, undefined);
      return;
    }
    let tier: Tier;
    try {
      tier = tierFromObject(u.value as CalicoTier);
    } catch (e) {
      const kept = this.goodCalico.has(key)
        ? " (the last valid version stays in force)"
        : STATIC_TIERS.some((t) => t.name === u.name)
          ? ` (Calico's ${u.name} tier stays in force)`
          : missingTier;
      this.problem(key, u, `${(e as Error).message}${kept}`);
      return;
    }
    this.goodCalico.add(key);
    this.tiers$.next({ name: u.name, tier });
    this.problem(key, u, undefined);
  }

  /** Calico NetworkPolicy / GlobalNetworkPolicy: as applyPolicy, and a policy in a tier that does not exist is reported. */
  private applyCalicoPolicy(key: string, u: ResourceUpdate): void {
    const kind = u.kind === "CalicoNetworkPolicy" ? "NetworkPolicy" : "GlobalNetworkPolicy";
    const pKey = calicoPolicyKey(kind, u.namespace || "default", u.name);
    if (!u.value) {
      this.goodCalico.delete(key);
      this.policies$.next({ key: pKey, policy: null });
      this.problem(key, u, undefined);
      return;
    }
    let converted: ReturnType<typeof calicoPolicyToPolicy>;
    try {
      converted = calicoPolicyToPolicy(u.value as CalicoPolicy, kind);
    } catch (e) {
      const kept = this.goodCalico.has(key) ? " (the last valid version stays in force)" : " (not enforced)";
      this.problem(key, u, `${(e as Error).message}${kept}`);
      return;
    }
    this.goodCalico.add(key);
    this.policies$.next({ key: pKey, policy: converted.policy });
    const ruleError =
      converted.ruleError &&
      `${converted.ruleError} (policy failed closed: its allow rules match nothing; with any other rule it denies everything it selects)`;
    this.problem(key, u, ruleError);
  }

  private applyNode(key: string, u: ResourceUpdate, invalid: string | undefined): void {
    let node: NodeInfo | null = null;
    let error: string | undefined = invalid && `${invalid} (node withdrawn)`;
    if (u.value) {
      try {
        node = nodeToNodeInfo(u.value as Node);
      } catch (e) {
        error = (e as Error).message;
      }
    }
    this.nodes$.next({ name: u.name, node });
    this.clusterPolicies.nodeChanged(u.name, node ? (u.value as Node) : null);
    this.problem(key, u, error);
  }

  /** An invalid pool, affinity or configuration keeps its last valid version in force. */
  private applyNetwork(key: string, u: ResourceUpdate): void {
    let out: NetworkUpdate;
    try {
      out = convertNetworkResource(u);
    } catch (e) {
      this.problem(key, u, `${(e as Error).message} (the last valid version, if any, stays in force)`);
      return;
    }
    this.network$.next(out);
    this.problem(key, u, undefined);
  }

  private refreshNamespace(ns: string): void {
    const id = namespaceProfileId(ns);
    const implied = BUILTIN_NAMESPACES.includes(ns) ? namespaceToProfile({ metadata: { name: ns } }) : null;
    const profile = this.namespaces.get(ns) ?? implied;
    this.emitProfile(id, profile);
    this.refreshServiceAccount(ns, "default");
  }

  private refreshServiceAccount(ns: string, sa: string): void {
    const id = serviceAccountProfileId(ns, sa);
    const nsExists = this.emittedProfiles.has(NAMESPACE_PROFILE_PREFIX + ns);
    const implied =
      sa === "default" && nsExists ? serviceAccountToProfile({ metadata: { name: sa, namespace: ns } }) : null;
    this.emitProfile(id, this.serviceAccounts.get(id) ?? implied);
  }

  private emitProfile(id: string, profile: Profile | null): void {
    const old = this.emittedProfiles.get(id) ?? null;
    if (old === profile) return;
    if (profile) this.emittedProfiles.set(id, profile);
    else this.emittedProfiles.delete(id);
    this.profiles$.next({ id, profile });
  }

  private problem(key: string, u: ResourceUpdate, message: string | undefined, node?: string): void {
    const problem = message === undefined ? null : { key, message, source: u.source, ...(node ? { node } : {}) };
    this.problems$.next({ key, problem });
  }

  /** An invalid policy, pool, affinity or configuration: its last valid version, if any, stays in force. */
  private rejected(key: string, u: ResourceUpdate, invalid: string): void {
    if (CALICO_POLICY_KINDS.has(u.kind)) {
      const inForce = this.goodCalico.has(key) || this.clusterPolicies.inForce(key);
      const kept = inForce ? " (the last valid version stays in force)" : "";
      this.problem(key, u, `${invalid}${kept}`);
      return;
    }
    const pKey = policyKey({ tier: "default", namespace: u.namespace || "default", name: K8S_POLICY_PREFIX + u.name });
    const kept =
      u.kind !== "NetworkPolicy"
        ? " (the last valid version, if any, stays in force)"
        : this.goodPolicies.has(pKey)
          ? " (the last valid version stays in force)"
          : "";
    this.problem(key, u, `${invalid}${kept}`);
  }
}

const CALICO_POLICY_KINDS: ReadonlySet<string> = new Set([
  "Tier",
  "CalicoNetworkPolicy",
  "GlobalNetworkPolicy",
  "StagedNetworkPolicy",
  "StagedGlobalNetworkPolicy",
  "StagedKubernetesNetworkPolicy",
  "ClusterNetworkPolicy",
]);

const missingTier = " (its policies are enforced in a tier that runs last and denies at its end)";

/** Kinds whose invalid update keeps the last valid version (withdrawing it could widen access). */
const KEEP_LAST_VALID: ReadonlySet<string> = new Set([
  ...CALICO_POLICY_KINDS,
  "NetworkPolicy",
  "IPPool",
  "BlockAffinity",
  "FelixConfiguration",
  // Withdrawing a host endpoint unprotects its interface; withdrawing a network set can lift a Deny.
  "HostEndpoint",
  "NetworkSet",
  "GlobalNetworkSet",
]);
