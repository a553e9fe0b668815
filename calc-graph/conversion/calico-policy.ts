// projectcalico.org/v3 Tier, NetworkPolicy and GlobalNetworkPolicy → the
// graph's model, as libcalico-go's update processors convert them
// (ConvertNetworkPolicyV3ToV1Value, ConvertGlobalNetworkPolicyV3ToV1Value):
//   - a NetworkPolicy only ever selects endpoints of its own namespace: its
//     selector is ANDed with `projectcalico.org/namespace == '<ns>'`, so a
//     tenant's policy cannot reach another namespace's pods;
//   - a GlobalNetworkPolicy's namespaceSelector matches pcns.* labels (all()
//     is "any namespace"); serviceAccountSelector matches pcsa.* labels;
//   - types default as Calico's API does: Ingress, plus Egress when there are
//     egress rules (Egress alone when there are only egress rules);
//   - order: lower first; unset is last (Felix's +Inf).
// Chain-name keys are Felix's PolicyID.ID(): `np/<ns>/<name>`, `gnp/<name>`.
//
// Placement errors (name, selectors, types, order, tier) throw: the policy's
// last valid version stays in force. Rule errors leave the policy with no
// rules, which isolates what it selects (fail closed).

import type { CalicoPolicy, CalicoTier } from "../../model/calico.js";
import type { Policy, PolicyKind, PolicyRule, Tier } from "../model.js";
import { prefixSelector } from "../selector/prefix.js";
import { ALL, and, eq, has, type Selector } from "../selector/selector.js";
import { DEFAULT_TIER_NAME, STATIC_TIERS } from "../tiers.js";
import { convertCalicoRule, selectorField } from "./calico-rule.js";
import { NAMESPACE_LABEL, NAMESPACE_PREFIX, SERVICE_ACCOUNT_LABEL, SERVICE_ACCOUNT_PREFIX } from "./labels.js";

const TIER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export type CalicoPolicyKind = Exclude<PolicyKind, "KubernetesNetworkPolicy">;

/** Felix's PolicyID.ID() for Calico's kinds. */
export function calicoPolicyKey(kind: CalicoPolicyKind, namespace: string, name: string): string {
  return kind === "NetworkPolicy" ? `np/${namespace}/${name}` : `gnp/${name}`;
}

export function tierFromObject(obj: CalicoTier): Tier {
  const name = obj.metadata?.name ?? "";
  if (!TIER_NAME.test(name) || name.length > 63) throw new Error(`Tier name ${JSON.stringify(name)} is not valid`);
  const spec = obj.spec ?? {};
  const order = orderField(spec.order, "spec.order");
  const action = spec.defaultAction ?? "Deny";
  if (action !== "Deny" && action !== "Pass") {
    throw new Error(`spec.defaultAction must be Deny or Pass, not ${JSON.stringify(action)}`);
  }
  // Calico's static tiers keep the order and default action its API enforces.
  const fixed = STATIC_TIERS.find((t) => t.name === name);
  if (fixed && (action !== fixed.defaultAction || (order !== undefined && order !== fixed.order))) {
    throw new Error(`the ${name} tier must have order ${fixed.order} and defaultAction ${fixed.defaultAction}`);
  }
  const o = fixed ? fixed.order : order;
  return { name, ...(o !== undefined ? { order: o } : {}), defaultAction: action };
}

export interface ConvertedCalicoPolicy {
  readonly policy: Policy;
  /** Set when a rule could not be converted: the policy is kept with no rules (fail closed). */
  readonly ruleError?: string;
}

/** Throws when the policy cannot be placed at all. */
export function calicoPolicyToPolicy(obj: CalicoPolicy, kind: CalicoPolicyKind): ConvertedCalicoPolicy {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`${kind} has no metadata.name`);
  const namespace = kind === "NetworkPolicy" ? obj.metadata?.namespace || "default" : "";
  const spec = obj.spec ?? {};
  if (typeof spec !== "object" || Array.isArray(spec)) throw new Error("spec must be an object");
  const flags = hostEndpointFlags(kind, spec);
  const tier = spec.tier === undefined || spec.tier === null || spec.tier === "" ? DEFAULT_TIER_NAME : spec.tier;
  if (typeof tier !== "string" || !TIER_NAME.test(tier))
    throw new Error(`spec.tier ${JSON.stringify(tier)} is not valid`);
  const selector = policySelector(kind, namespace, spec);
  const order = orderField(spec.order, "spec.order") ?? Number.POSITIVE_INFINITY;
  const { ingress, egress } = policyTypes(spec.types, spec.ingress, spec.egress);
  const id = { tier, namespace, name };
  if (flags.preDNAT && egress) throw new Error("a preDNAT policy has ingress rules only");
  const base = { id, key: calicoPolicyKey(kind, namespace, name), kind, order, selector, ingress, egress, ...flags };
  try {
    const ctx = { namespace, policySelector: selector };
    const inbound = ingress ? rules(spec.ingress, "ingress", ctx) : [];
    const outbound = egress ? rules(spec.egress, "egress", ctx) : [];
    return { policy: { ...base, inbound, outbound } };
  } catch (e) {
    const inbound = ingress ? failClosedRules(spec.ingress) : [];
    const outbound = egress ? failClosedRules(spec.egress) : [];
    return { policy: { ...base, inbound, outbound }, ruleError: (e as Error).message };
  }
}

/**
 * A policy whose rules do not all convert fails closed, as one over
 * FELIX_POLICYMAXRULES does (rules/rule-bound.ts): no rules when every rule
 * is an allow or a log (skipping an allow never allows more), else one
 * unconditional deny. No rules at all would not be safe then: a deny this
 * policy holds would vanish, and a later policy of its tier could allow what
 * it denied.
 */
function failClosedRules(raw: unknown): PolicyRule[] {
  if (raw === undefined || raw === null) return [];
  const list: unknown[] = Array.isArray(raw) ? raw : [raw];
  const action = (r: unknown) => (r !== null && typeof r === "object" ? (r as { action?: unknown }).action : undefined);
  return list.every((r) => action(r) === "Allow" || action(r) === "Log") ? [] : [{ action: "deny" }];
}

/** Calico's validation of the host-endpoint flags (GlobalNetworkPolicy only). */
function hostEndpointFlags(kind: CalicoPolicyKind, spec: NonNullable<CalicoPolicy["spec"]>) {
  const flag = (v: unknown, what: string): boolean => {
    if (v === undefined || v === null) return false;
    if (typeof v !== "boolean") throw new Error(`spec.${what} must be true or false`);
    if (v && kind === "NetworkPolicy") throw new Error(`spec.${what} is for GlobalNetworkPolicy only`);
    return v;
  };
  const preDNAT = flag(spec.preDNAT, "preDNAT");
  const doNotTrack = flag(spec.doNotTrack, "doNotTrack");
  const applyOnForward = flag(spec.applyOnForward, "applyOnForward");
  if (preDNAT && doNotTrack) throw new Error("spec.preDNAT and spec.doNotTrack cannot both be true");
  if ((preDNAT || doNotTrack) && !applyOnForward) {
    throw new Error("spec.applyOnForward must be true for a preDNAT or doNotTrack policy");
  }
  return {
    ...(preDNAT ? { preDNAT } : {}),
    ...(doNotTrack ? { doNotTrack } : {}),
    ...(applyOnForward ? { applyOnForward } : {}),
  };
}

function policySelector(kind: CalicoPolicyKind, namespace: string, spec: NonNullable<CalicoPolicy["spec"]>): Selector {
  const own = selectorField(spec.selector, "spec.selector") ?? ALL;
  const sa = selectorField(spec.serviceAccountSelector, "spec.serviceAccountSelector");
  if (kind === "NetworkPolicy") {
    if (spec.namespaceSelector != null && spec.namespaceSelector !== "") {
      throw new Error("spec.namespaceSelector is for GlobalNetworkPolicy only");
    }
    return and(own, eq(NAMESPACE_LABEL, namespace), sa ? prefixSelector(sa, SERVICE_ACCOUNT_PREFIX) : ALL);
  }
  const ns = selectorField(spec.namespaceSelector, "spec.namespaceSelector");
  // As Calico rewrites it, a global policy's all() service-account selector needs a service account.
  const saPart = sa && (sa.op === "all" ? has(SERVICE_ACCOUNT_LABEL) : prefixSelector(sa, SERVICE_ACCOUNT_PREFIX));
  return and(own, ns ? prefixSelector(ns, NAMESPACE_PREFIX, true) : ALL, saPart ?? ALL);
}

function policyTypes(types: unknown, ingressRules: unknown, egressRules: unknown) {
  if (types !== undefined && types !== null && !Array.isArray(types)) throw new Error("spec.types must be a list");
  if (types && types.length > 0) {
    for (const t of types) {
      if (t !== "Ingress" && t !== "Egress") throw new Error(`spec.types: unknown type ${JSON.stringify(t)}`);
    }
    return { ingress: types.includes("Ingress"), egress: types.includes("Egress") };
  }
  const hasIngress = Array.isArray(ingressRules) && ingressRules.length > 0;
  const hasEgress = Array.isArray(egressRules) && egressRules.length > 0;
  return { ingress: hasIngress || !hasEgress, egress: hasEgress };
}

function rules(raw: unknown, dir: "ingress" | "egress", ctx: Parameters<typeof convertCalicoRule>[2]): PolicyRule[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new Error(`spec.${dir} must be a list`);
  return raw.map((r, i) => convertCalicoRule(r, dir, ctx, `spec.${dir}[${i}]`));
}

function orderField(v: unknown, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : Number.NaN;
  if (!Number.isFinite(n)) throw new Error(`${where} must be a number, not ${JSON.stringify(v)}`);
  return n;
}
