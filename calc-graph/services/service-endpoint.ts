// One endpoint of a service port, as the service index hands it to the rule
// renderers: built from a slice's endpoint once per port at a cold start
// (50,000 times at the large preset), so key by key, not by object spreads.

import type { SliceEndpoint } from "./convert.js";
import type { ServiceEndpoint, TrafficDistribution } from "./model.js";
import { putHints } from "./topology.js";

/**
 * One endpoint of a service port, its keys set one by one in this order (ip, port, nodeName?,
 * local, ready, serving, terminating, pod?, zoneHints?, nodeHints?): object spreads made it ~3×
 * as slow, 50,000 times at a large cold start.
 */
export function serviceEndpoint(
  e: SliceEndpoint,
  port: number,
  nodeName: string,
  distribution: TrafficDistribution | undefined,
): ServiceEndpoint {
  const ep: { -readonly [K in keyof ServiceEndpoint]: ServiceEndpoint[K] } = { ip: e.ip, port } as ServiceEndpoint;
  if (e.nodeName) ep.nodeName = e.nodeName;
  ep.local = e.nodeName === nodeName;
  ep.ready = e.ready;
  ep.serving = e.serving;
  ep.terminating = e.terminating;
  if (e.pod) ep.pod = e.pod;
  putHints(ep, e, distribution);
  return ep;
}
