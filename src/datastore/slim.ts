// What an object from the API server carries that the graph never reads,
// dropped as soon as it is parsed: the server-side-apply field map
// (managedFields, often as large as the object), kubectl's copy of the last
// applied manifest, and the bulk of a Pod's and a Node's status (container
// statuses, conditions, a Node's image list). Every field a conversion reads
// stays: a Pod's phase and addresses, a Node's addresses, every spec, label
// and other annotation. test/src/datastore/slim.test.ts checks that a slimmed
// object converts exactly as the whole one.

import type { KubeObject } from "../../model/k8s.js";
import type { Kind } from "../../model/resource.js";

export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/** The status fields a conversion reads, by kind; other kinds keep their whole status. */
const STATUS_KEPT: Partial<Record<Kind, readonly string[]>> = {
  Pod: ["phase", "podIP", "podIPs"],
  Node: ["addresses"],
};

/** Drops, in place, what no conversion reads; returns the object. */
export function slim(kind: Kind, obj: KubeObject): KubeObject {
  const o = obj as KubeObject & { metadata?: Record<string, unknown>; status?: unknown };
  const meta = o.metadata;
  if (meta && typeof meta === "object") {
    delete meta.managedFields;
    const annotations = meta.annotations as Record<string, unknown> | undefined;
    if (annotations && typeof annotations === "object") delete annotations[LAST_APPLIED_ANNOTATION];
  }
  const kept = STATUS_KEPT[kind];
  const status = o.status as Record<string, unknown> | undefined;
  if (kept && status && typeof status === "object" && !Array.isArray(status)) {
    const small: Record<string, unknown> = {};
    for (const k of kept) if (Object.hasOwn(status, k)) small[k] = status[k];
    o.status = small;
  }
  return obj;
}
