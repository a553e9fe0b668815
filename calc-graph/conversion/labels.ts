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
