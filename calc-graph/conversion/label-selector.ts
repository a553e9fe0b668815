// Kubernetes LabelSelector → Calico selector.

import type { LabelSelector } from "../../model/k8s.js";
import { ALL, and, eq, has, inSet, neq, not, notIn, type Selector, selectorText } from "../selector/selector.js";

/**
 * Converts a k8s LabelSelector; `prefix` is prepended to every key (`pcns.`
 * for namespace selectors). An empty or absent selector selects everything.
 */
export function convertLabelSelector(sel: LabelSelector | undefined | null, prefix = ""): Selector {
  if (sel === undefined || sel === null) return ALL;
  if (typeof sel !== "object") throw new Error("label selector must be an object");
  const terms: Selector[] = [];
  const labels = sel.matchLabels ?? {};
  if (typeof labels !== "object") throw new Error("matchLabels must be a map");
  for (const k of Object.keys(labels).sort()) {
    terms.push(eq(prefix + k, String(labels[k])));
  }
  const exprs = sel.matchExpressions ?? [];
  if (!Array.isArray(exprs)) throw new Error("matchExpressions must be a list");
  for (const e of exprs) {
    if (!e || typeof e.key !== "string" || e.key === "") {
      throw new Error("matchExpressions entry has no key");
    }
    const key = prefix + e.key;
    const values = (e.values ?? []).map(String);
    switch (e.operator) {
      case "In":
        if (values.length === 0) throw new Error(`matchExpressions ${e.key} In needs values`);
        terms.push(inSet(key, values));
        break;
      case "NotIn":
        if (values.length === 0) throw new Error(`matchExpressions ${e.key} NotIn needs values`);
        terms.push(notIn(key, values));
        break;
      case "Exists":
        if (values.length > 0) throw new Error(`matchExpressions ${e.key} Exists takes no values`);
        terms.push(has(key));
        break;
      case "DoesNotExist":
        if (values.length > 0) throw new Error(`matchExpressions ${e.key} DoesNotExist takes no values`);
        terms.push(not(has(key)));
        break;
      default:
        throw new Error(`matchExpressions ${e.key}: unknown operator ${JSON.stringify(e.operator)}`);
    }
  }
  return canonicalAnd(terms);
}

/**
 * Equal selectors written differently get one text, so they share one IP set
 * (sets are named by the text): a one-value `In`/`NotIn` is `==`/`!=`, and the
 * terms are sorted and deduplicated (AND commutes).
 */
function canonicalAnd(terms: readonly Selector[]): Selector {
  const byText = new Map<string, Selector>();
  for (const t of terms) {
    const c =
      t.op === "in" && t.values.length === 1
        ? eq(t.key, t.values[0])
        : t.op === "notin" && t.values.length === 1
          ? neq(t.key, t.values[0])
          : t;
    byText.set(selectorText(c), c);
  }
  return and(...[...byText.keys()].sort().map((k) => byText.get(k)!));
}
