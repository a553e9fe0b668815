// Topology-aware routing, as kube-proxy decides it (pkg/proxy/topology.go):
// which ready endpoints cluster traffic from this node may use, from the
// EndpointSlice hints and this node's name and topology.kubernetes.io/zone.
//
//   - PreferSameNode when every ready endpoint has a node hint and at least one
//     is hinted for this node: only those;
//   - else PreferSameZone when every ready endpoint has a zone hint and at
//     least one is hinted for this node's zone: only those;
//   - else no topology: every ready endpoint (the fall-back: a missing hint,
//     no endpoint for this node or zone, or a node without a zone label).
// Local traffic policies and the serving-terminating fall-back ignore it.
//
// The hints are the EndpointSlice controller's. When an endpoint has none but
// the Service asks for a trafficDistribution, the controller's hints are
// derived here (PreferClose / PreferSameZone: the endpoint's own zone;
// PreferSameNode: its node, and its zone for proxies without node hints), so
// slices written by hand, or by a controller that predates the field, behave
// as a current control plane's would.

import type { ServiceEndpoint, TrafficDistribution } from "./model.js";

export type TopologyMode = "" | "PreferSameZone" | "PreferSameNode";

/** What the slice says about one endpoint's topology. */
export interface EndpointTopology {
  readonly zone?: string;
  readonly nodeName?: string;
  readonly zoneHints?: readonly string[];
  readonly nodeHints?: readonly string[];
}

export type Hints = { -readonly [K in "zoneHints" | "nodeHints"]?: ServiceEndpoint[K] };

/**
 * The hints an endpoint carries, set on `into` (an endpoint being built), zoneHints first: the
 * slice's, or the controller's for trafficDistribution; none without either.
 */
export function putHints(into: Hints, e: EndpointTopology, distribution: TrafficDistribution | undefined): void {
  if (e.zoneHints?.length || e.nodeHints?.length) {
    if (e.zoneHints?.length) into.zoneHints = e.zoneHints;
    if (e.nodeHints?.length) into.nodeHints = e.nodeHints;
    return;
  }
  if (!distribution) return;
  if (e.zone) into.zoneHints = [e.zone];
  if (distribution === "PreferSameNode" && e.nodeName) into.nodeHints = [e.nodeName];
}

export function topologyMode(
  eps: readonly ServiceEndpoint[],
  nodeName: string,
  zone: string | undefined,
): TopologyMode {
  let anyReady = false;
  let allNode = true;
  let forNode = false;
  let allZone = true;
  let forZone = false;
  for (const e of eps) {
    if (!e.ready) continue;
    anyReady = true;
    if (!e.nodeHints?.length) allNode = false;
    else if (e.nodeHints.includes(nodeName)) forNode = true;
    if (!e.zoneHints?.length) allZone = false;
    else if (zone !== undefined && e.zoneHints.includes(zone)) forZone = true;
  }
  if (!anyReady) return "";
  if (allNode && forNode) return "PreferSameNode";
  if (allZone && forZone) return "PreferSameZone";
  return "";
}

/** The endpoints with `topologyExcluded` set on the ready ones the chosen mode leaves out (same objects when none). */
export function applyTopology(
  eps: readonly ServiceEndpoint[],
  nodeName: string,
  zone: string | undefined,
): readonly ServiceEndpoint[] {
  const mode = topologyMode(eps, nodeName, zone);
  if (mode === "") return eps;
  return eps.map((e) => {
    const ok =
      !e.ready ||
      (mode === "PreferSameNode" ? e.nodeHints?.includes(nodeName) : zone !== undefined && e.zoneHints?.includes(zone));
    return ok ? e : { ...e, topologyExcluded: true };
  });
}

/** The node label whose value is this node's zone. */
export const ZONE_LABEL = "topology.kubernetes.io/zone";
