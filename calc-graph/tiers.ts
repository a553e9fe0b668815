// Felix's policy sorting (felix/calc/policy_sorter.go): an endpoint's policies
// grouped by tier; tiers that exist before those that do not, then by order
// (unset last), then by name; policies within a tier by order (unset last),
// then by `name/namespace/kind`. A policy whose tier does not exist is still
// enforced (as in Felix), in a tier that sorts last and drops at its end.

import type { ResourceProblem } from "../model/resource.js";
import type { EndpointTier } from "./desired-state.js";
import type { Policy, Tier } from "./model.js";

export const DEFAULT_TIER_NAME = "default";
/** Calico's order of the `default` tier (v3 DefaultTierOrder). */
export const DEFAULT_TIER_ORDER = 1_000_000;
export const DEFAULT_TIER: Tier = { name: DEFAULT_TIER_NAME, order: DEFAULT_TIER_ORDER, defaultAction: "Deny" };
/** ClusterNetworkPolicy's tiers, as Calico 3.32 has them: Admin before every other tier, Baseline after default. */
export const KUBE_ADMIN_TIER: Tier = { name: "kube-admin", order: 1_000, defaultAction: "Pass" };
export const KUBE_BASELINE_TIER: Tier = { name: "kube-baseline", order: 10_000_000, defaultAction: "Pass" };
/** Tiers that always exist, with the order and default action Calico's API enforces for them. */
export const STATIC_TIERS: readonly Tier[] = [KUBE_ADMIN_TIER, DEFAULT_TIER, KUBE_BASELINE_TIER];

/** One tier of an endpoint's policies in one direction, in evaluation order. */
export interface TierPolicies {
  readonly name: string;
  /** What happens at the end of the tier to traffic no policy in it allowed, denied or passed. */
  readonly defaultAction: "Deny" | "Pass";
  /** False when no Tier of this name exists: it sorts last, and denies at its end. */
  readonly exists: boolean;
  readonly policies: readonly Policy[];
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function compareTiers(a: TierPolicies & { order?: number }, b: TierPolicies & { order?: number }): number {
  if (a.exists !== b.exists) return a.exists ? -1 : 1;
  const ao = a.order ?? Number.POSITIVE_INFINITY;
  const bo = b.order ?? Number.POSITIVE_INFINITY;
  if (ao !== bo) return ao < bo ? -1 : 1;
  return cmp(a.name, b.name);
}

export function comparePolicies(a: Policy, b: Policy): number {
  if (a.order !== b.order) return a.order < b.order ? -1 : 1;
  return cmp(`${a.id.name}/${a.id.namespace}/${a.kind}`, `${b.id.name}/${b.id.namespace}/${b.kind}`);
}

/** Groups policies by tier, both in evaluation order. */
export function sortIntoTiers(policies: Iterable<Policy>, tiers: ReadonlyMap<string, Tier>): TierPolicies[] {
  const groups = new Map<string, Policy[]>();
  for (const p of policies) {
    const list = groups.get(p.id.tier);
    if (list) list.push(p);
    else groups.set(p.id.tier, [p]);
  }
  const out: (TierPolicies & { order?: number })[] = [];
  for (const [name, list] of groups) {
    const tier = tiers.get(name);
    out.push({
      name,
      defaultAction: tier?.defaultAction ?? "Deny",
      exists: tier !== undefined,
      ...(tier?.order !== undefined ? { order: tier.order } : {}),
      policies: list.sort(comparePolicies),
    });
  }
  return out.sort(compareTiers).map(({ order: _, ...t }) => t);
}

/** An endpoint's tiers as the snapshot keeps them: policy keys, in order. */
export function endpointTiers(tiers: readonly TierPolicies[]): EndpointTier[] {
  return tiers.map((t) => ({
    name: t.name,
    defaultAction: t.defaultAction,
    exists: t.exists,
    policies: t.policies.map((p) => p.key),
  }));
}

export const missingTierKey = (name: string) => `Tier//${name}/missing`;

/** A tier that policies name but that does not exist is reported (Felix enforces them in a last tier that denies). */
export function missingTierProblem(name: string, policies: number, exists: boolean): ResourceProblem | undefined {
  if (policies === 0 || exists) return undefined;
  const what = policies === 1 ? "policy is" : "policies are";
  return {
    key: missingTierKey(name),
    message: `tier ${name} does not exist: its ${policies} ${what} enforced in a tier that runs after every other and denies at its end`,
  };
}
