// The sysctls Felix sets: per workload interface, and global forwarding.
// Paths are relative to /proc/sys.

export interface InterfaceSysctlOptions {
  readonly ipv4: boolean;
  readonly ipv6: boolean;
  /** rp_filter for workload interfaces (Felix copies conf/default, else 1). */
  readonly rpFilter: string;
}

export function interfaceSysctls(iface: string, o: InterfaceSysctlOptions): Record<string, string> {
  // accept_ra=0 always: a workload must never configure the host's routing.
  const out: Record<string, string> = { [`net/ipv6/conf/${iface}/accept_ra`]: "0" };
  if (o.ipv4) {
    out[`net/ipv4/conf/${iface}/forwarding`] = "1";
    out[`net/ipv4/conf/${iface}/proxy_arp`] = "1";
    out[`net/ipv4/neigh/${iface}/proxy_delay`] = "0";
    out[`net/ipv4/conf/${iface}/route_localnet`] = "1";
    out[`net/ipv4/conf/${iface}/rp_filter`] = o.rpFilter;
  }
  if (o.ipv6) {
    out[`net/ipv6/conf/${iface}/forwarding`] = "1";
    out[`net/ipv6/conf/${iface}/proxy_ndp`] = "1";
  }
  return out;
}

export function globalSysctls(o: { ipv6: boolean }): Record<string, string> {
  const out: Record<string, string> = { "net/ipv4/ip_forward": "1" };
  if (o.ipv6) out["net/ipv6/conf/all/forwarding"] = "1";
  return out;
}
