// This host's default-route gateways, read once at start from procfs (which
// shows the current network namespace): no Service may claim one as an
// external or load-balancer IP (calc-graph's GraphConfig.gatewayIPs).

import { readFileSync } from "node:fs";
import { parseIp } from "../calc-graph/conversion/cidr.js";

/** Gateways of the IPv4 default routes in /proc/net/route's text (addresses in host byte order, hex). */
export function ipv4DefaultGateways(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[1] !== "00000000" || f[7] !== "00000000" || f[2] === "00000000") continue;
    const n = Number.parseInt(f[2], 16);
    if (!Number.isFinite(n)) continue;
    out.push([n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join("."));
  }
  return out;
}

/** Gateways of the IPv6 default routes in /proc/net/ipv6_route's text. */
export function ipv6DefaultGateways(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^0{32}$/.test(f[0]) || f[1] !== "00" || /^0{32}$/.test(f[4])) continue;
    const hex = f[4];
    if (!/^[0-9a-f]{32}$/i.test(hex)) continue;
    out.push(parseIp(hex.match(/.{4}/g)!.join(":")).text);
  }
  return out;
}

/** The default gateways of this network namespace; [] when procfs cannot say. */
export function readDefaultGateways(): string[] {
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return "";
    }
  };
  return [
    ...new Set([...ipv4DefaultGateways(read("/proc/net/route")), ...ipv6DefaultGateways(read("/proc/net/ipv6_route"))]),
  ];
}
