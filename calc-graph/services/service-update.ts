// A Service or EndpointSlice ResourceUpdate → the ServiceIndex update it
// makes, and the problem to report (or undefined). A Service that fails to
// convert is withdrawn (its chains go: no access rather than stale access);
// a slice that fails contributes no endpoints.

import type { ResourceUpdate } from "../../model/resource.js";
import { type ConvertedService, type ConvertedSlice, convertEndpointSlice, convertService } from "./convert.js";

export type ServiceUpdate =
  | { readonly kind: "Service"; readonly key: string; readonly service: ConvertedService | null }
  | { readonly kind: "EndpointSlice"; readonly key: string; readonly slice: ConvertedSlice | null };

export function serviceUpdate(u: ResourceUpdate): { update: ServiceUpdate; problem: string | undefined } {
  const key = `${u.namespace || "default"}/${u.name}`;
  if (u.kind === "Service") {
    let service: ConvertedService | null = null;
    let problem: string | undefined;
    if (u.value) {
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
  if (u.value) {
    try {
      slice = convertEndpointSlice(u.value);
      if (slice && slice.problems.length > 0) problem = slice.problems.join("; ");
    } catch (e) {
      problem = `${(e as Error).message} (slice ignored)`;
    }
  }
  return { update: { kind: "EndpointSlice", key, slice }, problem };
}
