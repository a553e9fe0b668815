// kube-proxy's --nodeport-addresses, resolved to the addresses node ports
// answer on (pkg/proxy/util/nodeport_addresses.go):
//   - all (the default): every local address; no list (undefined) — the rules
//     match `--dst-type LOCAL` instead;
//   - primary (kube-proxy ≥ 1.31): the node's primary IP of the family, the
//     first InternalIP of the Node;
//   - CIDRs: this host's addresses inside them (the Node's addresses while the
//     host's are not known); a family with no CIDR at all matches every
//     address, as kube-proxy does when only the other family is listed.

import ipaddr from "ipaddr.js";
import type { IpVersion } from "../model.js";
import type { NodePortAddresses } from "./model.js";

const familyOf = (ip: string): IpVersion => (ip.includes(":") ? 6 : 4);

function inCidr(ip: string, cidr: string): boolean {
  try {
    const [net, len] = ipaddr.parseCIDR(cidr);
    const a = ipaddr.parse(ip);
    return a.kind() === net.kind() && a.match(net, len);
  } catch {
    return false;
  }
}

export function nodePortIPs(
  o: NodePortAddresses,
  v: IpVersion,
  nodeIPs: readonly string[],
  hostAddresses: readonly string[] | undefined,
): readonly string[] | undefined {
  if (o.kind === "all") return undefined;
  if (o.kind === "primary") {
    const primary = nodeIPs.find((ip) => familyOf(ip) === v);
    return primary ? [primary] : [];
  }
  const cidrs = o.cidrs.filter((c) => familyOf(c) === v);
  if (cidrs.length === 0) return undefined;
  // A zero-length prefix is every address, as kube-proxy's MatchAll.
  if (cidrs.some((c) => c.endsWith("/0"))) return undefined;
  const candidates = hostAddresses ?? nodeIPs;
  return [...new Set(candidates.filter((ip) => familyOf(ip) === v && cidrs.some((c) => inCidr(ip, c))))].sort();
}

/**
 * Whether node ports answer on 127.0.0.1 (IPv4 only): --iptables-localhost-nodeports,
 * and only when --nodeport-addresses lets loopback in (kube-proxy then sets route_localnet).
 */
export function localhostNodePorts(localhost: boolean, o: NodePortAddresses): boolean {
  if (!localhost) return false;
  if (o.kind === "all") return true;
  if (o.kind === "primary") return false;
  const v4 = o.cidrs.filter((c) => familyOf(c) === 4);
  return v4.length === 0 || v4.some((c) => inCidr("127.0.0.1", c));
}
