// The bench node's links as Calico's CNI plugin leaves them: the underlay and
// one veth per local pod, as an `ip -batch` script. The kernel child and the
// agent bench build the same node from it.

import { nodeInternalIp } from "./scale-addresses.js";

export function nodeLinksScript(ifaces: readonly string[]): string {
  const lines = [
    "link set lo up",
    "link add fxb-underlay type veth peer name fxb-underlay-p",
    `addr add ${nodeInternalIp(0)}/12 dev fxb-underlay`,
    "link set fxb-underlay-p up",
    "link set fxb-underlay up",
  ];
  ifaces.forEach((name, i) => {
    lines.push(`link add ${name} type veth peer name fxb-p${i}`, `link set fxb-p${i} up`, `link set ${name} up`);
  });
  return `${lines.join("\n")}\n`;
}
