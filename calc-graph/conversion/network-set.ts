// NetworkSet (namespaced) and GlobalNetworkSet → NetworkSet: labelled nets
// that rule selectors match like endpoints, their nets in the selectors' IP
// sets (hash:net members). A namespaced set is tenant data: it carries its
// namespace's label and inherits its namespace's labels (`kns.<ns>`), so it
// is matched only where Calico scopes it (selectors of its own namespace, or
// a namespaceSelector naming its namespace); its own copies of Calico's
// labels are dropped, so it cannot pass for another namespace's set.

import type { NetworkSet } from "../model.js";
import { parseCidr, parseIp } from "./cidr.js";
import { isReservedLabel, NAMESPACE_LABEL, namespaceProfileId } from "./labels.js";

interface NetworkSetObject {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { nets?: string[] };
}

export const networkSetKey = (namespace: string, name: string) => `ns:${namespace}/${name}`;
export const globalNetworkSetKey = (name: string) => `gns:${name}`;

/** Input already validated (validate-hosts.ts); `namespace` undefined for a GlobalNetworkSet. */
export function networkSetToModel(obj: unknown, namespace: string | undefined): NetworkSet {
  const o = obj as NetworkSetObject;
  const name = o.metadata?.name ?? "";
  const v4 = new Set<string>();
  const v6 = new Set<string>();
  for (const raw of o.spec?.nets ?? []) {
    const t = String(raw);
    const c = t.includes("/") ? parseCidr(t) : parseIp(t);
    const text = t.includes("/") ? c.text : `${c.text}/${c.version === 4 ? 32 : 128}`;
    (c.version === 4 ? v4 : v6).add(text);
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.metadata?.labels ?? {})) if (!isReservedLabel(k)) labels[k] = String(v);
  if (namespace !== undefined) labels[NAMESPACE_LABEL] = namespace;
  return {
    key: namespace === undefined ? globalNetworkSetKey(name) : networkSetKey(namespace, name),
    ipv4Nets: [...v4].sort(),
    ipv6Nets: [...v6].sort(),
    labels,
    profileIds: namespace === undefined ? [] : [namespaceProfileId(namespace)],
  };
}
