// The route to each IPAM block, per the pool the block lies in (pure):
//
//   local block                          blackhole <block>
//   remote, no pool / no encapsulation   <block> via <node IP>            (the kernel picks the underlay device)
//   remote, IPIP                         <block> via <node IP> dev tunl0 onlink
//   remote, VXLAN                        <block> via <tunnel IP> dev vxlan.calico onlink
//   remote, IPv6 VXLAN                   <block> via <IPv6 tunnel IP> dev vxlan-v6.calico onlink
//   CrossSubnet                          as no encapsulation when the remote node's address lies in our
//                                        node's IPv4Address (IPv6Address) subnet, else encapsulated
//
// IPv6 pools have no IPIP (the pool conversion refuses it).

import ipaddr from "ipaddr.js";
import type { Route } from "../../routes/route.js";
import type { NodeInfo } from "../model.js";
import type { EncapMode, IpPool } from "./model.js";
import { nodeIpv4, nodeIpv6, vtepOf } from "./vtep.js";

export const VXLAN_DEVICE = "vxlan.calico";
export const VXLAN_V6_DEVICE = "vxlan-v6.calico";
export const IPIP_DEVICE = "tunl0";

export type Encap = "none" | "ipip" | "vxlan";

/** The most specific pool holding `cidr`, if any. */
export function poolFor(pools: Iterable<IpPool>, cidr: string): IpPool | undefined {
  const [addr, len] = ipaddr.parseCIDR(cidr);
  let best: IpPool | undefined;
  for (const p of pools) {
    const [paddr, plen] = ipaddr.parseCIDR(p.cidr);
    if (paddr.kind() !== addr.kind() || plen > len || !addr.match(paddr, plen)) continue;
    if (!best || plen > Number(best.cidr.split("/")[1])) best = p;
  }
  return best;
}

/** True when `ip` lies in the subnet of `cidrAddr` (`ip/len`). */
export function sameSubnet(cidrAddr: string | undefined, ip: string | undefined): boolean {
  if (!cidrAddr || !ip) return false;
  const [net, len] = ipaddr.parseCIDR(cidrAddr);
  const a = ipaddr.parse(ip);
  return a.kind() === net.kind() && a.match(net, len);
}

function applies(mode: EncapMode, crossSubnet: boolean): boolean {
  return mode === "Always" || (mode === "CrossSubnet" && crossSubnet);
}

/** Which encapsulation traffic from `local` to `remote`'s block `cidr` uses. */
export function encapFor(pool: IpPool | undefined, local: NodeInfo | undefined, remote: NodeInfo): Encap {
  if (!pool) return "none";
  const crossSubnet =
    pool.family === 4
      ? !sameSubnet(local?.ipv4Address, nodeIpv4(remote))
      : !sameSubnet(local?.ipv6Address, nodeIpv6(remote));
  if (applies(pool.vxlanMode, crossSubnet)) return "vxlan";
  if (applies(pool.ipipMode, crossSubnet)) return "ipip";
  return "none";
}

export interface BlockRouteResult {
  /** By destination. */
  readonly routes: Map<string, Route>;
  /** Why a block has no route (e.g. the remote VTEP is incomplete). */
  readonly problem?: string;
}

/** The routes for one node's blocks, as seen from `localName`. */
export function blockRoutes(
  localName: string,
  local: NodeInfo | undefined,
  node: NodeInfo,
  blocks: readonly string[],
  pools: Iterable<IpPool>,
): BlockRouteResult {
  const routes = new Map<string, Route>();
  const problems: string[] = [];
  // Once into a list: an iterator (a Map's values()) would be used up by the first block.
  const poolList = [...pools];
  for (const cidr of blocks) {
    if (node.name === localName) {
      routes.set(cidr, { dst: cidr, kind: "local-block", type: "blackhole", scope: "universe", node: node.name });
      continue;
    }
    const v6 = cidr.includes(":");
    const encap = encapFor(poolFor(poolList, cidr), local, node);
    const base = { dst: cidr, kind: "remote-block", type: "unicast", scope: "universe", node: node.name } as const;
    if (encap === "vxlan") {
      const vtep = vtepOf(node, v6 ? 6 : 4);
      if (!vtep) {
        const what = v6 ? "IPv6VXLANTunnelAddr and IPv6 address" : "IPv4VXLANTunnelAddr and address";
        problems.push(`no route to ${cidr}: VXLAN needs the node's projectcalico.org/${what}`);
        continue;
      }
      routes.set(cidr, { ...base, gateway: vtep.tunnelAddr, dev: v6 ? VXLAN_V6_DEVICE : VXLAN_DEVICE, onlink: true });
      continue;
    }
    const gateway = v6 ? node.internalIPs.find((ip) => ip.includes(":")) : nodeIpv4(node);
    if (!gateway) continue;
    routes.set(cidr, encap === "ipip" ? { ...base, gateway, dev: IPIP_DEVICE, onlink: true } : { ...base, gateway });
  }
  return { routes, problem: problems.length ? problems.join("; ") : undefined };
}
