// The synthetic cluster's vocabulary: label values (env, tier, version, team), the
// named container ports of each tier, the shapes of the Service and EndpointSlice
// objects it writes, and the update and key helpers.

import type { KubeObject } from "../model/k8s.js";
import type { Kind, ResourceUpdate } from "../model/resource.js";

export const ENVS = ["prod", "staging", "dev"] as const;
export const TIERS = ["web", "api", "db", "cache"] as const;
export const VERSIONS = ["v1", "v2", "v3"] as const;
export const TEAMS = 8;
/** Policy templates rotated per namespace (see `policyFromTemplate`). */
export const TEMPLATES = 8;

type Tier = (typeof TIERS)[number];

export const TIER_PORTS: Readonly<Record<Tier, { name: string; containerPort: number; protocol: string }[]>> = {
  web: [
    { name: "http", containerPort: 8080, protocol: "TCP" },
    { name: "metrics", containerPort: 9090, protocol: "TCP" },
  ],
  api: [
    { name: "http", containerPort: 8080, protocol: "TCP" },
    { name: "grpc", containerPort: 9000, protocol: "TCP" },
    { name: "metrics", containerPort: 9090, protocol: "TCP" },
  ],
  db: [
    { name: "postgres", containerPort: 5432, protocol: "TCP" },
    { name: "metrics", containerPort: 9187, protocol: "TCP" },
  ],
  cache: [{ name: "redis", containerPort: 6379, protocol: "TCP" }],
};

export interface EndpointSlice extends KubeObject {
  addressType: string;
  endpoints: {
    addresses: string[];
    conditions: { ready: boolean; serving: boolean; terminating: boolean };
    nodeName?: string;
    targetRef?: { kind: string; namespace: string; name: string };
  }[];
  ports: { name: string; port: number; protocol: string }[];
}

export interface Service extends KubeObject {
  spec: {
    type: string;
    clusterIP: string;
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string; protocol: string }[];
  };
}

export function update(kind: Kind, namespace: string, name: string, value: KubeObject | null): ResourceUpdate {
  return { kind, namespace, name, value };
}

export const podKey = (ns: string, name: string) => `${ns}/${name}`;
