// Label keys and prefixes of Calico's Kubernetes conversion.

export const NAMESPACE_LABEL = "projectcalico.org/namespace";
export const ORCHESTRATOR_LABEL = "projectcalico.org/orchestrator";
export const SERVICE_ACCOUNT_LABEL = "projectcalico.org/serviceaccount";
/** Profile label carrying the namespace / service account name. */
export const NAME_LABEL = "projectcalico.org/name";
export const NAMESPACE_PREFIX = "pcns.";
export const SERVICE_ACCOUNT_PREFIX = "pcsa.";
export const NAMESPACE_PROFILE_PREFIX = "kns.";
export const SERVICE_ACCOUNT_PROFILE_PREFIX = "ksa.";
/** Set by the API server on every namespace since Kubernetes 1.21. */
export const K8S_NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

export const namespaceProfileId = (ns: string) => `${NAMESPACE_PROFILE_PREFIX}${ns}`;
export const serviceAccountProfileId = (ns: string, sa: string) => `${SERVICE_ACCOUNT_PROFILE_PREFIX}${ns}.${sa}`;

/**
 * Label keys only Calico writes: the namespace's and service account's labels
 * (inherited from the `kns.`/`ksa.` profiles under `pcns.`/`pcsa.`) and the
 * endpoint's own `projectcalico.org/{namespace,orchestrator,serviceaccount}`.
 * A pod carrying one of them would match another namespace's
 * namespaceSelector (or a serviceAccountSelector) as if it were there, so the
 * pod's own copy is dropped: the namespace and service account always win.
 */
export function isReservedLabel(key: string): boolean {
  return (
    key.startsWith(NAMESPACE_PREFIX) ||
    key.startsWith(SERVICE_ACCOUNT_PREFIX) ||
    key === NAMESPACE_LABEL ||
    key === ORCHESTRATOR_LABEL ||
    key === SERVICE_ACCOUNT_LABEL
  );
}
