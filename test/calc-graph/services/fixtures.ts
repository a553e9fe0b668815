// Service and EndpointSlice updates for the service tests.

import type { KubeObject } from "../../../model/k8s.js";
import type { ResourceUpdate } from "../../../model/resource.js";

export function svcUpdate(
  name: string,
  spec: Record<string, unknown> | null,
  extra: Record<string, unknown> = {},
): ResourceUpdate {
  return {
    kind: "Service",
    namespace: "demo",
    name,
    value:
      spec === null
        ? null
        : ({ apiVersion: "v1", kind: "Service", metadata: { name, namespace: "demo" }, spec, ...extra } as KubeObject),
  };
}

export interface Ep {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export function sliceUpdate(
  name: string,
  service: string | null,
  eps: readonly Ep[] | null,
  ports: readonly { name?: string; port: number; protocol?: string }[] = [{ name: "http", port: 8080 }],
  addressType = "IPv4",
): ResourceUpdate {
  return {
    kind: "EndpointSlice",
    namespace: "demo",
    name,
    value:
      eps === null
        ? null
        : ({
            apiVersion: "discovery.k8s.io/v1",
            kind: "EndpointSlice",
            metadata: {
              name,
              namespace: "demo",
              labels: service ? { "kubernetes.io/service-name": service } : {},
            },
            addressType,
            ports: ports.map((p) => ({ protocol: "TCP", ...p })),
            endpoints: eps.map((e) => ({
              addresses: [e.ip],
              ...(e.node ? { nodeName: e.node } : {}),
              conditions: {
                ...(e.ready !== undefined ? { ready: e.ready } : {}),
                ...(e.serving !== undefined ? { serving: e.serving } : {}),
                ...(e.terminating !== undefined ? { terminating: e.terminating } : {}),
              },
            })),
          } as KubeObject),
  };
}
