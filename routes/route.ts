// The route model: what the route reconciler keeps in the main table, each
// route tagged with our protocol number so that only our routes are touched.

/** Felix's route protocol (RTPROT 80); we own exactly the routes carrying it. */
export const ROUTE_PROTOCOL = 80;

/**
 * RTPROT_BOOT: the protocol of a route added without one, as Calico's CNI
 * plugin adds a workload's route (Felix's DeviceRouteProtocol default, 3).
 */
export const DEVICE_ROUTE_PROTOCOL = 3;

export type RouteKind = "local-workload" | "remote-block" | "local-block" | "remote-workload";

export interface Route {
  /** Canonical CIDR, e.g. `10.244.1.5/32`. */
  readonly dst: string;
  readonly kind: RouteKind;
  readonly type: "unicast" | "blackhole";
  /** Output interface (local workloads). */
  readonly dev?: string;
  /** Next hop (remote blocks); the reconciler finds the interface that reaches it. */
  readonly gateway?: string;
  readonly scope: "link" | "universe";
  /** The node whose block this is (block routes). */
  readonly node?: string;
  /** The gateway is on `dev` whatever its address (tunnel routes: `ip route ... onlink`). */
  readonly onlink?: boolean;
}

/** One route as `ip route` prints it. */
export function routeText(r: Route): string {
  const dst = r.dst.replace(/\/(32|128)$/, "");
  const parts = r.type === "blackhole" ? ["blackhole", dst] : [dst];
  if (r.gateway) parts.push("via", r.gateway);
  if (r.dev) parts.push("dev", r.dev);
  parts.push("proto", String(ROUTE_PROTOCOL));
  if (r.scope === "link") parts.push("scope", "link");
  if (r.onlink) parts.push("onlink");
  return parts.join(" ");
}
