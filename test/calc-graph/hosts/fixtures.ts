// Builders for host endpoint and network set tests: Calico objects as
// manifests, and internal policies (the graph's model) with the host endpoint
// flags, until Calico policies convert from manifests.

import { ipSetName, selectorSet } from "../../../calc-graph/ipsets/ids.js";
import { type Policy, type PolicyRule, policyKey } from "../../../calc-graph/model.js";
import type { Selector } from "../../../calc-graph/selector/selector.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { update } from "../fixtures.js";

export function hostEndpoint(
  name: string,
  spec: { node?: string; interfaceName?: string; expectedIPs?: string[]; profiles?: string[] },
  labels: Record<string, string> = {},
): ResourceUpdate {
  return update("HostEndpoint", "", name, {
    apiVersion: "projectcalico.org/v3",
    kind: "HostEndpoint",
    metadata: { name, labels },
    spec: { node: "node1", ...spec },
  });
}

export function networkSet(ns: string, name: string, nets: string[], labels: Record<string, string>): ResourceUpdate {
  return update("NetworkSet", ns, name, {
    apiVersion: "projectcalico.org/v3",
    kind: "NetworkSet",
    metadata: { name, namespace: ns, labels },
    spec: { nets },
  });
}

export function globalNetworkSet(name: string, nets: string[], labels: Record<string, string>): ResourceUpdate {
  return update("GlobalNetworkSet", "", name, {
    apiVersion: "projectcalico.org/v3",
    kind: "GlobalNetworkSet",
    metadata: { name, labels },
    spec: { nets },
  });
}

export interface PolicyOptions {
  order?: number;
  inbound?: PolicyRule[];
  outbound?: PolicyRule[];
  applyOnForward?: boolean;
  preDNAT?: boolean;
  doNotTrack?: boolean;
}

/** A global policy in tier default, as Calico's GlobalNetworkPolicy will convert. */
export function globalPolicy(name: string, selector: Selector, o: PolicyOptions = {}): Policy {
  // Long enough that its chain names are hashed, as every real policy key's are.
  const id = { tier: "default", namespace: "", name: `global.${name}.test-policy` };
  const inbound = o.inbound ?? [];
  const outbound = o.outbound ?? [];
  return {
    id,
    key: policyKey(id),
    kind: "KubernetesNetworkPolicy",
    order: o.order ?? 100,
    selector,
    ingress: o.inbound !== undefined,
    egress: o.outbound !== undefined,
    inbound,
    outbound,
    ...(o.applyOnForward ? { applyOnForward: true } : {}),
    ...(o.preDNAT ? { preDNAT: true } : {}),
    ...(o.doNotTrack ? { doNotTrack: true } : {}),
  };
}

/** The kernel name of a selector's IP set. */
export const setOf = (sel: Selector, v: 4 | 6 = 4) => ipSetName(selectorSet(sel).id, v);
