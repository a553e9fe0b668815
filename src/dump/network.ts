// felix-dump views of the networking state: neighbour and FDB entries (part
// of `routes`), and `mtu`.

import type { DesiredState } from "../../calc-graph/desired-state.js";
import { type MtuResult, resolveMtu } from "../../ifaces/tunnel.js";
import { fdbText, neighborText } from "../../routes/neighbor.js";

const sorted = <T>(rec: Readonly<Record<string, T>>): T[] =>
  Object.entries(rec)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, v]) => v);

/** The neighbour and FDB entries on our tunnel devices, after the routes (nothing when there are none). */
export function networkRoutesText(s: DesiredState): string {
  const neigh = sorted(s.network.neighbors);
  const fdb = sorted(s.network.fdb);
  let out = "";
  if (neigh.length)
    out += `# neighbours (ip neigh show nud permanent)\n${neigh.map((n) => `${neighborText(n)}\n`).join("")}`;
  if (fdb.length) out += `# fdb (bridge fdb show)\n${fdb.map((f) => `${fdbText(f)}\n`).join("")}`;
  return out;
}

export function networkRoutesJson(s: DesiredState): { neighbors: unknown[]; fdb: unknown[] } | undefined {
  const neighbors = sorted(s.network.neighbors);
  const fdb = sorted(s.network.fdb);
  return neighbors.length || fdb.length ? { neighbors, fdb } : undefined;
}

export interface MtuView extends MtuResult {
  readonly hostMtuSource: string;
  readonly file?: string;
  readonly tunnels: { name: string; kind: string; mtu: number; configured: boolean }[];
}

export function mtuView(s: DesiredState, hostMtu: number, hostMtuSource: string, file: string): MtuView {
  const r = resolveMtu(s.network.mtu, hostMtu);
  const tunnels = sorted(s.network.tunnels).map((t) => ({
    name: t.name,
    kind: t.kind,
    mtu: t.mtu ?? (t.kind === "vxlan" ? (t.localIp?.includes(":") ? r.vxlanMtuV6 : r.vxlanMtu) : r.ipipMtu),
    configured: t.mtu !== undefined,
  }));
  return { ...r, hostMtuSource, tunnels, ...(s.network.poolsInUse ? { file } : {}) };
}

export function mtuText(v: MtuView): string {
  const rows = [`host MTU       ${v.hostMtu} (${v.hostMtuSource})`];
  for (const t of v.tunnels) {
    rows.push(`${t.name.padEnd(14)} ${t.mtu} (${t.configured ? "configured" : `host MTU - ${v.hostMtu - t.mtu}`})`);
  }
  rows.push(`pod MTU        ${v.podMtu}${v.tunnels.length ? "" : " (no encapsulation: the host MTU)"}`);
  rows.push(`MTU file       ${v.file ?? "not written (no IP pools)"}`);
  return `${rows.join("\n")}\n`;
}

/** Tunnel devices and MTU settings as decided (no kernel): the golden view of the networking state. */
export function networkText(s: DesiredState): string {
  const lines: string[] = [];
  for (const t of sorted(s.network.tunnels)) {
    const parts = [t.name, t.kind];
    if (t.kind === "vxlan")
      parts.push(
        "id",
        String(t.vni),
        "dstport",
        String(t.port),
        "local",
        String(t.localIp),
        "address",
        String(t.mac),
        "nolearning",
      );
    parts.push(
      "mtu",
      t.mtu === undefined ? "auto" : String(t.mtu),
      "addr",
      `${t.address}/${t.address.includes(":") ? 128 : 32}`,
    );
    lines.push(parts.join(" "));
  }
  const m = s.network.mtu;
  const v6 = m.vxlanV6 ? ` vxlan-v6=${m.vxlanMtuV6 ?? "auto"}` : "";
  lines.push(
    `mtu vxlan=${m.vxlan ? (m.vxlanMtu ?? "auto") : "off"}${v6} ipip=${m.ipip ? (m.ipipMtu ?? "auto") : "off"} ifacePattern=${m.ifacePattern}`,
  );
  return `${lines.join("\n")}\n`;
}
