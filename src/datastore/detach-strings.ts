// Parsed YAML's strings made independent of the text they came from, and
// shared between equal values.
//
// A YAML parser returns each scalar as `text.slice(a, b)`, and V8 keeps a
// slice of 13 characters or more as a view of its whole parent: one pod name
// or label value held by the graph kept its document's text alive (~2.5 KB
// each; 12 MB of YAML at the large preset, held until the object changed).
// Shorter slices are copies, one per occurrence: a node name, namespace,
// label value or pod IP repeated across objects and files was held once per
// object (11.5 MB of equal strings at the large preset's cold start). Every
// string is therefore replaced by V8's internalized copy, which every equal
// string of every file shares (V8's string table holds them weakly).
// JSON.parse (the Kubernetes datastore) copies its strings already.

import { internalized } from "../../model/own-string.js";

/**
 * Internalized copies by content, for one text's documents: internalizing costs
 * ~1 µs a string, a hit here ~0.1 µs, and most strings of a file repeat in it.
 */
export type StringPool = Map<string, string>;

/** V8's one copy of `s`, through the pool. */
export function pooled(pool: StringPool, s: string): string {
  let o = pool.get(s);
  if (o === undefined) {
    o = internalized(s);
    pool.set(o, o);
  }
  return o;
}

/**
 * Replaces, in place, every string of `value` (plain objects and arrays, as
 * a parser builds them) by its internalized copy. Iterative: a deeply nested
 * document cannot overflow the stack.
 */
export function detachStrings<T>(value: T, pool: StringPool = new Map()): T {
  const own = (s: string): string => pooled(pool, s);
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (next === null || typeof next !== "object") continue;
    if (Array.isArray(next)) {
      for (let i = 0; i < next.length; i++) {
        const v = next[i];
        if (typeof v === "string") next[i] = own(v);
        else if (v !== null && typeof v === "object") pending.push(v);
      }
      continue;
    }
    const o = next as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const v = o[k];
      if (typeof v === "string") {
        // An own "__proto__" key is data: assigning to it would set the prototype.
        if (k === "__proto__") Object.defineProperty(o, k, { value: own(v) });
        else o[k] = own(v);
      } else if (v !== null && typeof v === "object") pending.push(v);
    }
  }
  return value;
}
