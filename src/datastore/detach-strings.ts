// Parsed YAML's strings made independent of the text they came from.
//
// A YAML parser returns each scalar as `text.slice(a, b)`, and V8 keeps a
// slice of 13 characters or more as a view of its whole parent: one pod name
// or label value held by the graph kept its document's text alive (~2.5 KB
// each; 12 MB of YAML at the large preset, held until the object changed).
// JSON.parse (the Kubernetes datastore) copies its strings already.

import { ownString as detached, MIN_VIEW } from "../../model/own-string.js";

/**
 * Replaces, in place, every string of `value` (plain objects and arrays, as
 * a parser builds them) that may be a view by a copy of its own. Iterative:
 * a deeply nested document cannot overflow the stack.
 */
export function detachStrings<T>(value: T): T {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (next === null || typeof next !== "object") continue;
    if (Array.isArray(next)) {
      for (let i = 0; i < next.length; i++) {
        const v = next[i];
        if (typeof v === "string") next[i] = detached(v);
        else if (v !== null && typeof v === "object") pending.push(v);
      }
      continue;
    }
    const o = next as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const v = o[k];
      if (typeof v === "string") {
        if (v.length < MIN_VIEW) continue;
        // An own "__proto__" key is data: assigning to it would set the prototype.
        if (k === "__proto__") Object.defineProperty(o, k, { value: detached(v) });
        else o[k] = detached(v);
      } else if (v !== null && typeof v === "object") pending.push(v);
    }
  }
  return value;
}
