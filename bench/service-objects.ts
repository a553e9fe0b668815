// The synthetic cluster's Services: a ClusterIP Service selecting an app (or a tier,
// when the app has too few pods) and one discovery.k8s.io/v1 EndpointSlice listing
// up to `endpointsPerService` of the pods it selects.

import type { Pod } from "../model/k8s.js";
import type { Rng } from "./rng.js";
import { serviceIp } from "./scale-addresses.js";
import { type EndpointSlice, type Service, TIERS } from "./scale-vocabulary.js";

/** What a Service draws from: the apps per namespace and the endpoints per Service. */
export interface ServiceScope {
  readonly apps: number;
  readonly spec: { readonly endpointsPerService: number };
}

export function makeService(
  c: ServiceScope,
  ns: string,
  name: string,
  v: number,
  rng: Rng,
  podsWith: (key: string, value: string) => readonly Pod[],
): { svc: Service; slice: EndpointSlice } {
  const E = c.spec.endpointsPerService;
  const app = `app-${rng.int(c.apps)}`;
  let selector: Record<string, string> = { app };
  let members = podsWith("app", app);
  if (members.length < E) {
    const tier = TIERS[rng.int(TIERS.length)];
    selector = { tier };
    members = podsWith("tier", tier);
  }
  const start = members.length ? rng.int(members.length) : 0;
  const chosen = Array.from({ length: Math.min(E, members.length) }, (_, i) => members[(start + i) % members.length]);
  const svc: Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns },
    spec: {
      type: "ClusterIP",
      clusterIP: serviceIp(v),
      selector,
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
    },
  };
  const slice: EndpointSlice = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${name}-${((Math.imul(v + 1, 2654435761) >>> 0) % 36 ** 5).toString(36).padStart(5, "0")}`,
      namespace: ns,
      labels: {
        "kubernetes.io/service-name": name,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
      },
    },
    addressType: "IPv4",
    endpoints: chosen.map((p) => endpointOf(p)),
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
  return { svc, slice };
}

export function endpointOf(p: Pod): EndpointSlice["endpoints"][number] {
  return {
    addresses: [p.status!.podIP!],
    conditions: { ready: true, serving: true, terminating: false },
    nodeName: p.spec!.nodeName,
    targetRef: { kind: "Pod", namespace: p.metadata!.namespace!, name: p.metadata!.name! },
  };
}
