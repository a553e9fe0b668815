// A Service or EndpointSlice ResourceUpdate → the ServiceIndex update it
// makes, and the problem to report (or undefined). A Service that fails to
// convert is withdrawn (its chains go: no access rather than stale access);
// a slice that fails contributes no endpoints.
//
// Coexistence: a Service or EndpointSlice labelled
// service.kubernetes.io/service-proxy-name (any value: another proxy owns it)
// or service.kubernetes.io/headless is not ours, as kube-proxy's informers
// exclude them by label selector (cmd/kube-proxy/app/server.go). It is handled
// as deleted, so one gaining such a label loses its rules, whatever the
// datastore.

import type { ResourceUpdate } from "../../model/resource.js";
import { type ConvertedService, type ConvertedSlice, convertEndpointSlice, convertService } from "./convert.js";

export type ServiceUpdate =
  | { readonly kind: "Service"; readonly key: string; readonly service: ConvertedService | null }
  | { readonly kind: "EndpointSlice"; readonly key: string; readonly slice: ConvertedSlice | null };

export const SERVICE_PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name";
export const HEADLESS_LABEL = "service.kubernetes.io/headless";

/** Whether kube-proxy's label selector leaves the object out (`!service-proxy-name,!headless`). */
export function notOurs(labels: Readonly<Record<string, string>> | undefined): boolean {
  // Malformed labels (not an object) are the converter's to report.
  if (typeof labels !== "object" || labels === null) return false;
  return Object.hasOwn(labels, SERVICE_PROXY_NAME_LABEL) || Object.hasOwn(labels, HEADLESS_LABEL);
}

export function serviceUpdate(u: ResourceUpdate): { update: ServiceUpdate; problem: string | undefined } {
  const key = `${u.namespace || "default"}/${u.name}`;
  if (u.kind === "Service") {
    let service: ConvertedService | null = null;
    let problem: string | undefined;
    if (u.value && !notOurs(u.value.metadata?.labels)) {
      try {
        service = convertService(u.value);
        if (service.problems.length > 0) problem = service.problems.join("; ");
      } catch (e) {
        problem = `${(e as Error).message} (service not proxied)`;
      }
    }
    return { update: { kind: "Service", key, service }, problem };
  }
  let slice: ConvertedSlice | null = null;
  let problem: string | undefined;
  if (u.value && !notOurs(u.value.metadata?.labels)) {
    try {
      slice = convertEndpointSlice(u.value);
      if (slice && slice.problems.length > 0) problem = slice.problems.join("; ");
    } catch (e) {
      problem = `${(e as Error).message} (slice ignored)`;
    }
  }
  return { update: { kind: "EndpointSlice", key, slice }, problem };
}
