// The fake API server's object, request and option types, and the resource types it serves.
import type * as http from "node:http";
import type { KubernetesObject } from "@kubernetes/client-node";

// ---------------------------------------------------------------------------------------------------------------
// Types

export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/**
 * What the control API accepts: a plain object literal, or a client-node model such as k8s.V1Pod. Objects come
 * back as plain JSON (timestamps are strings even where the client-node type says Date).
 */
export type ObjectInput = KObject | KubernetesObject;

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchEvent {
  type: WatchEventType;
  object: KObject;
}

export interface ResourceType {
  kind: string;
  listKind: string;
  /** "v1" for core, "networking.k8s.io/v1" otherwise. */
  apiVersion: string;
  /** Lower-case plural used in paths ("pods"). */
  plural: string;
  namespaced: boolean;
  /** Whether the kind has a /status subresource (main-resource writes then keep the old status, and vice versa). */
  hasStatus: boolean;
  /** A unique name when `kind` is shared with another group's kind (Calico's NetworkPolicy: "CalicoNetworkPolicy"). */
  id?: string;
}

/** The store and history key of a resource type. */
export const typeId = (rt: ResourceType) => rt.id ?? rt.kind;

export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. "/api/v1/pods". */
  path: string;
  /** Decoded query parameters (last value wins). */
  query: Record<string, string>;
  /** The raw query string without "?" ("" when none). */
  rawQuery: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body when the body was JSON, the raw string otherwise, undefined when empty. */
  body: unknown;
  /** True for watch requests (`watch=true|1` or the /watch/ prefix). */
  watch: boolean;
  /** Status code the fake answered with (for watches: the status of the stream's head). */
  status?: number;
  time: number;
}

export interface OpenWatchInfo {
  id: number;
  path: string;
  query: Record<string, string>;
  kind: string;
  namespace?: string;
  /** The resourceVersion the client asked to start from ("" when none). */
  startResourceVersion: string;
  bookmarks: boolean;
}

export interface Fault {
  /** Matches the request method (default: any). */
  method?: string;
  /** Matches the path: exact string or RegExp (default: any). */
  path?: string | RegExp;
  /** true: only watch requests; false: only non-watch requests; undefined: both. */
  watch?: boolean;
  /** HTTP status to answer with (a Status body is sent). */
  status: number;
  message?: string;
  /** How many matching requests to fail (default 1; Infinity for all). */
  times?: number;
}

export interface FakeApiServerOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** TCP port to bind (default 0 = random). Later start() calls reuse the bound port. */
  port?: number;
  /** How many watch events to keep for watch resumption (default 1000). Older resourceVersions get 410. */
  historySize?: number;
  /**
   * How to answer a watch whose resourceVersion is older than the history window:
   * "event" (default, what a real watch-cache-backed apiserver does): HTTP 200, one ERROR event with a 410
   * Expired Status, then the stream ends. "http": HTTP 410 with a Status body.
   */
  tooOldMode?: "event" | "http";
  /** Periodic BOOKMARK interval in ms for watches that asked for bookmarks (default 0 = only on bookmark()). */
  bookmarkIntervalMs?: number;
  /**
   * Send BOOKMARKs to every watch, even when the client did not send allowWatchBookmarks=true (client-node's
   * informer never sends it). Default false, which is what a real apiserver does.
   */
  bookmarksWithoutRequest?: boolean;
  /** Set kind/apiVersion on LIST items (default true; a real apiserver omits them, client-node does not care). */
  listItemsWithTypeMeta?: boolean;
  /** If set, requests without `Authorization: Bearer <requireToken>` get 401. */
  requireToken?: string;
  /** Starting value of the resourceVersion counter (default 100). */
  initialResourceVersion?: number;
  /** Whether Calico's CRDs (crd.projectcalico.org/v1) are installed (default true); false: their paths 404. */
  calicoCrds?: boolean;
  /** Whether network-policy-api's ClusterNetworkPolicy CRD is installed (default true); false: its path 404s. */
  cnpCrd?: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Resource registry

/** Calico's CRD group as the API server serves it. */
export const CALICO_CRD_GROUP_VERSION = "crd.projectcalico.org/v1";
/** network-policy-api's group as the API server serves it. */
export const CNP_GROUP_VERSION = "policy.networking.k8s.io/v1alpha2";

export const RESOURCE_TYPES: ResourceType[] = [
  {
    kind: "Namespace",
    listKind: "NamespaceList",
    apiVersion: "v1",
    plural: "namespaces",
    namespaced: false,
    hasStatus: true,
  },
  { kind: "Pod", listKind: "PodList", apiVersion: "v1", plural: "pods", namespaced: true, hasStatus: true },
  {
    kind: "ServiceAccount",
    listKind: "ServiceAccountList",
    apiVersion: "v1",
    plural: "serviceaccounts",
    namespaced: true,
    hasStatus: false,
  },
  { kind: "Node", listKind: "NodeList", apiVersion: "v1", plural: "nodes", namespaced: false, hasStatus: true },
  { kind: "Service", listKind: "ServiceList", apiVersion: "v1", plural: "services", namespaced: true, hasStatus: true },
  { kind: "Event", listKind: "EventList", apiVersion: "v1", plural: "events", namespaced: true, hasStatus: false },
  {
    kind: "NetworkPolicy",
    listKind: "NetworkPolicyList",
    apiVersion: "networking.k8s.io/v1",
    plural: "networkpolicies",
    namespaced: true,
    hasStatus: false,
  },
  {
    kind: "EndpointSlice",
    listKind: "EndpointSliceList",
    apiVersion: "discovery.k8s.io/v1",
    plural: "endpointslices",
    namespaced: true,
    hasStatus: false,
  },
  ...(["IPPool", "BlockAffinity", "FelixConfiguration"] as const).map(
    (kind): ResourceType => ({
      kind,
      listKind: `${kind}List`,
      apiVersion: CALICO_CRD_GROUP_VERSION,
      plural: kind.endsWith("y") ? `${kind.toLowerCase().slice(0, -1)}ies` : `${kind.toLowerCase()}s`,
      namespaced: false,
      hasStatus: false,
    }),
  ),
  // Calico's policy CRDs (crd.projectcalico.org/v1).
  ...(
    [
      ["Tier", "tiers", false],
      ["NetworkPolicy", "networkpolicies", true],
      ["GlobalNetworkPolicy", "globalnetworkpolicies", false],
      ["StagedNetworkPolicy", "stagednetworkpolicies", true],
      ["StagedGlobalNetworkPolicy", "stagedglobalnetworkpolicies", false],
      ["StagedKubernetesNetworkPolicy", "stagedkubernetesnetworkpolicies", true],
    ] as const
  ).map(
    ([kind, plural, namespaced]): ResourceType => ({
      kind,
      listKind: `${kind}List`,
      apiVersion: CALICO_CRD_GROUP_VERSION,
      plural,
      namespaced,
      hasStatus: false,
      ...(kind === "NetworkPolicy" ? { id: "CalicoNetworkPolicy" } : {}),
    }),
  ),
  ...(["HostEndpoint", "NetworkSet", "GlobalNetworkSet"] as const).map(
    (kind): ResourceType => ({
      kind,
      listKind: `${kind}List`,
      apiVersion: CALICO_CRD_GROUP_VERSION,
      plural: `${kind.toLowerCase()}s`,
      namespaced: kind === "NetworkSet",
      hasStatus: false,
    }),
  ),
  {
    kind: "ClusterNetworkPolicy",
    listKind: "ClusterNetworkPolicyList",
    apiVersion: CNP_GROUP_VERSION,
    plural: "clusternetworkpolicies",
    namespaced: false,
    hasStatus: true,
  },
];

const CALICO_API_VERSIONS = ["projectcalico.org/v3", CALICO_CRD_GROUP_VERSION];

/** Resolve "Pod", "pod", "pods" to a resource type. Throws for unknown kinds. */
export function resourceType(kindOrPlural: string, apiVersion?: string): ResourceType {
  const k = kindOrPlural.toLowerCase();
  // A Calico apiVersion picks Calico's type of a shared kind (NetworkPolicy); "CalicoNetworkPolicy" names it too.
  const calico = apiVersion !== undefined && CALICO_API_VERSIONS.includes(apiVersion);
  const rt =
    RESOURCE_TYPES.find((r) => r.id?.toLowerCase() === k) ??
    (calico
      ? RESOURCE_TYPES.find((r) => r.apiVersion === CALICO_CRD_GROUP_VERSION && r.kind.toLowerCase() === k)
      : undefined) ??
    RESOURCE_TYPES.find((r) => r.kind.toLowerCase() === k || r.plural === k);
  if (!rt) throw new Error(`fake-apiserver: unknown kind ${kindOrPlural}`);
  return rt;
}

export const resourceTypes: readonly ResourceType[] = RESOURCE_TYPES;
