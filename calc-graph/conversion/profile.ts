// Namespace → profile `kns.<ns>`; ServiceAccount → profile `ksa.<ns>.<sa>`.

import type { Namespace, ServiceAccount } from "../../model/k8s.js";
import type { Profile } from "../model.js";
import {
  K8S_NAMESPACE_NAME_LABEL,
  NAME_LABEL,
  NAMESPACE_PREFIX,
  namespaceProfileId,
  SERVICE_ACCOUNT_PREFIX,
  serviceAccountProfileId,
} from "./labels.js";

const ALLOW_ALL = [{ action: "allow" as const }];

function prefixed(prefix: string, labels: Record<string, string> | undefined) {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) out[prefix + k] = String(v);
  return out;
}

/** The namespace profile: allow-all rules, which give unpoliced pods default-allow. */
export function namespaceToProfile(ns: Namespace): Profile {
  const name = ns.metadata?.name ?? "";
  const labels = prefixed(NAMESPACE_PREFIX, {
    ...ns.metadata?.labels,
    [K8S_NAMESPACE_NAME_LABEL]: name,
  });
  labels[NAMESPACE_PREFIX + NAME_LABEL] = name;
  return { id: namespaceProfileId(name), labels, inbound: ALLOW_ALL, outbound: ALLOW_ALL };
}

/** The service-account profile: labels only, no rules. */
export function serviceAccountToProfile(sa: ServiceAccount): Profile {
  const ns = sa.metadata?.namespace || "default";
  const name = sa.metadata?.name ?? "";
  const labels = prefixed(SERVICE_ACCOUNT_PREFIX, sa.metadata?.labels);
  labels[SERVICE_ACCOUNT_PREFIX + NAME_LABEL] = name;
  return { id: serviceAccountProfileId(ns, name), labels, inbound: [], outbound: [] };
}
