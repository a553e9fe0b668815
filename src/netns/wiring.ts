// The links of the kernel test topology: the switch's bridges, a node's underlay, a
// pod's veth pair as Calico's CNI wires it, an external host's link (the layout is
// described at the top of topology.ts).

import { ipBatch, ipn, sysctls } from "./shell.js";
import type { TopoNode, TopoPod } from "./types.js";

/** The switch netns: bridge br0 holding the underlay gateways (IPv4 and IPv6). */
export async function wireSwitch(s: {
  readonly switchNs: string;
  readonly gateway: string;
  readonly underlayPrefixLength: number;
  readonly gatewayV6: string;
  readonly underlayPrefixLengthV6: number;
}): Promise<void> {
  await ipBatch(s.switchNs, [
    "link set lo up",
    "link add br0 type bridge forward_delay 0 stp_state 0 mcast_snooping 0",
    `addr add ${s.gateway}/${s.underlayPrefixLength} dev br0`,
    `addr add ${s.gatewayV6}/${s.underlayPrefixLengthV6} dev br0 nodad`,
    "link set br0 up",
  ]);
}

/** Bridge br1 in the switch netns, with the second underlay subnet's gateway. */
export async function wireSecondBridge(switchNs: string, gateway: string, len: number): Promise<void> {
  await ipBatch(switchNs, [
    "link add br1 type bridge forward_delay 0 stp_state 0 mcast_snooping 0",
    `addr add ${gateway}/${len} dev br1`,
    "link set br1 up",
  ]);
}

/** An external host's eth0: a veth to switch port `port`, which holds its /24's gateway `gw`. */
export async function wireExternal(
  netns: string,
  switchNs: string,
  port: string,
  ip: string,
  gw: string,
): Promise<void> {
  await ipn(netns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", switchNs);
  await ipBatch(switchNs, [`addr add ${gw}/24 dev ${port}`, `link set ${port} up`]);
  await ipBatch(netns, [
    "link set lo up",
    `addr add ${ip}/24 dev eth0`,
    "link set eth0 up",
    `route add default via ${gw}`,
  ]);
}

/** A node's eth0: a veth to `bridge` in the switch netns, its underlay addresses and default routes. */
export async function wireNode(
  node: TopoNode,
  switchNs: string,
  bridge: string,
  gatewayV6: string,
  prefixLengthV6: number,
): Promise<void> {
  const { netns, switchPort, underlayIp, underlayIpv6, gateway, underlayPrefixLength: prefixLength } = node;
  // Created directly in the two namespaces: nothing ever appears in the root netns.
  await ipn(netns, "link", "add", "eth0", "type", "veth", "peer", "name", switchPort, "netns", switchNs);
  await ipBatch(switchNs, [`link set ${switchPort} master ${bridge}`, `link set ${switchPort} up`]);
  if (underlayIpv6) {
    // No DAD on eth0's link-local address: until DAD ends (1-2 s) the kernel sends
    // no neighbour solicitation for *forwarded* IPv6 packets (ndisc_send_ns wants a
    // non-tentative link-local source), so pod-to-pod IPv6 across nodes would fail
    // for the first seconds although host-originated IPv6 traffic works.
    await sysctls(netns, { "net/ipv6/conf/eth0/accept_dad": 0 });
  }
  const lines = [
    "link set lo up",
    `addr add ${underlayIp}/${prefixLength} dev eth0`,
    "link set eth0 up",
    `route add default via ${gateway} dev eth0`,
  ];
  if (underlayIpv6) {
    lines.push(`addr add ${underlayIpv6}/${prefixLengthV6} dev eth0 nodad`, `route add ::/0 via ${gatewayV6} dev eth0`);
  }
  await ipBatch(netns, lines);
}

/** A pod's veth pair: host side "cali…" in the node netns, eth0 with the pod's /32 (and /128) in its own. */
export async function wirePod(pod: TopoPod): Promise<void> {
  const { hostIface: cali, node, ip, ipv6 } = pod;
  await ipn(node.netns, "link", "add", cali, "type", "veth", "peer", "name", "eth0", "netns", pod.netns);
  if (ipv6) {
    // The pod's IPv6 default route goes via the host side's link-local address;
    // skip DAD so that it answers at once, and so that the node can solicit the
    // pod's address for forwarded packets right away (see addNode).
    await sysctls(node.netns, { [`net/ipv6/conf/${cali}/accept_dad`]: 0 });
  }
  await ipBatch(node.netns, [`link set ${cali} address ee:ee:ee:ee:ee:ee`, `link set ${cali} up`]);
  const lines = [
    "link set lo up",
    `addr add ${ip}/32 dev eth0`,
    "link set eth0 up",
    "route add 169.254.1.1 dev eth0 scope link",
    "route add default via 169.254.1.1 dev eth0",
  ];
  if (ipv6) {
    lines.push(`addr add ${ipv6}/128 dev eth0 nodad`, "route add ::/0 via fe80::ecee:eeff:feee:eeee dev eth0");
  }
  await ipBatch(pod.netns, lines);
}
