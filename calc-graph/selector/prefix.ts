// Calico's namespace and service-account selectors match the labels a
// workload inherits from its namespace (`pcns.*`) and service account
// (`pcsa.*`): their keys are prefixed before the selector is used (libcalico-go
// parseSelectorAttachPrefix). In a namespace selector `all()` means "any
// namespace" and `global()` "no namespace" (non-namespaced resources).

import { and, has, not, or, type Selector } from "./selector.js";

const NAMESPACE_LABEL = "projectcalico.org/namespace";

/** Every label key of `sel` prefixed; `namespaced` applies the namespace-selector meaning of all() and global(). */
export function prefixSelector(sel: Selector, prefix: string, namespaced = false): Selector {
  const go = (s: Selector): Selector => {
    switch (s.op) {
      case "all":
        return namespaced ? has(NAMESPACE_LABEL) : s;
      case "global":
        return namespaced ? not(has(NAMESPACE_LABEL)) : s;
      case "not":
        return not(go(s.sel));
      case "and":
        return and(...s.sels.map(go));
      case "or":
        return or(...s.sels.map(go));
      default:
        return { ...s, key: prefix + s.key };
    }
  };
  return go(sel);
}
