// FELIX_LOGPREFIX for a policy's Log rules, expanded as Felix expands it:
// %t the tier, %k the kind's short name, %n the name, %p namespace/name (or
// the name). The kernel takes 29 characters of prefix including the ": "
// iptables adds, so the expansion is cut to 27 (Felix lets iptables refuse it).

import type { Policy } from "../model.js";

const KIND_SHORT: Readonly<Record<Policy["kind"], string>> = {
  KubernetesNetworkPolicy: "knp",
  NetworkPolicy: "np",
  GlobalNetworkPolicy: "gnp",
  ClusterNetworkPolicy: "kcnp",
};

/** The longest prefix text before the ": " iptables appends (LOG's limit is 29). */
export const MAX_LOG_PREFIX = 27;

export function logPrefixFor(template: string, p: Policy): string {
  const expanded = template.replace(/%[tknp]/g, (spec) => {
    switch (spec) {
      case "%t":
        return p.id.tier;
      case "%k":
        return KIND_SHORT[p.kind];
      case "%n":
        return p.id.name;
      default:
        return p.id.namespace ? `${p.id.namespace}/${p.id.name}` : p.id.name;
    }
  });
  return expanded.slice(0, MAX_LOG_PREFIX);
}
