// Addresses an external or load-balancer IP must not claim (CVE-2020-8554's
// class, which kube-proxy leaves to admission): another Service's cluster IP
// (its external-IP rule could come first in the dispatch chain and capture
// the cluster IP's traffic, e.g. the API server's 10.96.0.1:443) and pod
// addresses (a tenant's Service would capture every pod's traffic to another
// tenant's pod at that port). The allocated cluster IP and the pod win; the
// external IP is refused and reported.

import ipaddr from "ipaddr.js";

export type ServiceId = string;

/** Every Service's cluster IPs, and which services use each address as an external/LB IP. */
export class ClusterIpClaims {
  private readonly counts = new Map<string, number>();
  private readonly users = new Map<string, Set<ServiceId>>();

  /** The addresses tracked: those the Services name now. */
  get size(): number {
    return this.counts.size + this.users.size;
  }

  isClusterIP(ip: string): boolean {
    return this.counts.has(ip);
  }

  /**
   * A service's cluster IPs and external/LB IPs, before and after a change;
   * returns the services whose frontends a cluster IP that came or went affects.
   */
  update(
    id: ServiceId,
    before: { cluster: readonly string[]; external: readonly string[] },
    after: { cluster: readonly string[]; external: readonly string[] },
  ): Set<ServiceId> {
    for (const ip of new Set(before.external)) {
      const s = this.users.get(ip);
      s?.delete(id);
      if (s?.size === 0) this.users.delete(ip); // else every address a Service ever named stays
    }
    for (const ip of new Set(after.external)) {
      const s = this.users.get(ip) ?? new Set();
      s.add(id);
      this.users.set(ip, s);
    }
    const changed: string[] = [];
    for (const ip of new Set(before.cluster)) {
      const n = (this.counts.get(ip) ?? 1) - 1;
      if (n > 0) this.counts.set(ip, n);
      else {
        this.counts.delete(ip);
        changed.push(ip);
      }
    }
    for (const ip of new Set(after.cluster)) {
      const n = (this.counts.get(ip) ?? 0) + 1;
      this.counts.set(ip, n);
      if (n === 1) changed.push(ip);
    }
    const dirty = new Set<ServiceId>();
    for (const ip of changed) for (const u of this.users.get(ip) ?? []) dirty.add(u);
    return dirty;
  }
}

/** Whether `ip` is inside one of `cidrs` (canonical texts, either family). */
export function inCidrs(ip: string, cidrs: readonly string[]): boolean {
  if (cidrs.length === 0 || !ipaddr.isValid(ip)) return false;
  const addr = ipaddr.parse(ip);
  return cidrs.some((c) => {
    const [net, bits] = ipaddr.parseCIDR(c);
    return net.kind() === addr.kind() && addr.match(net, bits);
  });
}
