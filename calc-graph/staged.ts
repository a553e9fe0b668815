// Calico's staged policies (StagedNetworkPolicy, StagedGlobalNetworkPolicy,
// StagedKubernetesNetworkPolicy): a policy as it would be, never enforced.
// The graph only validates them (a problem names what is wrong); `felix-dump
// policies` computes what they would change by running the graph again with
// each staged policy in place of the policy of the same name
// (`stagedAction: Set`, the default) or that policy removed (`Delete`).

import type { CalicoPolicy, StagedKubernetesNetworkPolicy } from "../model/calico.js";
import type { NetworkPolicy } from "../model/k8s.js";
import type { Kind, ResourceUpdate } from "../model/resource.js";
import { calicoPolicyToPolicy } from "./conversion/calico-policy.js";
import { networkPolicyToPolicy } from "./conversion/network-policy.js";
import { validatePolicyRules } from "./conversion/validate.js";

type StagedKind = "StagedNetworkPolicy" | "StagedGlobalNetworkPolicy" | "StagedKubernetesNetworkPolicy";

/** The kind each staged kind stands in for. */
const ENFORCED: Readonly<Record<StagedKind, Kind>> = {
  StagedNetworkPolicy: "CalicoNetworkPolicy",
  StagedGlobalNetworkPolicy: "GlobalNetworkPolicy",
  StagedKubernetesNetworkPolicy: "NetworkPolicy",
};

const isStaged = (kind: Kind): kind is StagedKind => kind in ENFORCED;

function stagedAction(value: unknown): "Set" | "Delete" {
  const a = (value as { spec?: { stagedAction?: unknown } }).spec?.stagedAction ?? "Set";
  if (a !== "Set" && a !== "Delete")
    throw new Error(`spec.stagedAction must be Set or Delete, not ${JSON.stringify(a)}`);
  return a;
}

/** Why the staged policy could not be enforced as written, or undefined when it could. */
export function checkStaged(kind: Kind, value: unknown): string | undefined {
  if (!isStaged(kind)) return undefined;
  try {
    if (stagedAction(value) === "Delete") return undefined;
    if (kind === "StagedKubernetesNetworkPolicy") {
      const np = value as StagedKubernetesNetworkPolicy as NetworkPolicy;
      return validatePolicyRules(np.spec) ?? networkPolicyToPolicy(np).ruleError;
    }
    const k = kind === "StagedNetworkPolicy" ? "NetworkPolicy" : "GlobalNetworkPolicy";
    return calicoPolicyToPolicy(value as CalicoPolicy, k).ruleError;
  } catch (e) {
    return `${(e as Error).message} (staged: not enforced either way)`;
  }
}

/** The updates with every staged policy enforced: what `felix-dump policies` compares against. */
export function withStagedEnforced(updates: readonly ResourceUpdate[]): ResourceUpdate[] {
  const out = new Map<string, ResourceUpdate>();
  const key = (u: ResourceUpdate) => `${u.kind}/${u.namespace}/${u.name}`;
  const staged: ResourceUpdate[] = [];
  for (const u of updates) {
    if (isStaged(u.kind)) staged.push(u);
    else out.set(key(u), u);
  }
  for (const u of staged) {
    if (!u.value) continue;
    let action: "Set" | "Delete";
    try {
      action = stagedAction(u.value);
    } catch {
      continue;
    }
    const kind = ENFORCED[u.kind as StagedKind];
    const { stagedAction: _, ...spec } = (u.value as { spec?: Record<string, unknown> }).spec ?? {};
    const value = action === "Delete" ? null : { ...u.value, kind, spec };
    const enforced: ResourceUpdate = { ...u, kind, value };
    out.set(key(enforced), enforced);
  }
  return [...out.values()];
}
