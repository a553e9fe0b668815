// The networking part of `felix-dump diff --live`: our tunnel devices and
// the neighbour/FDB entries on them, read from this network namespace.

import type { DesiredState } from "../../calc-graph/desired-state.js";
import { IpTunnelLinks } from "../../ifaces/tunnel-links.js";
import { OWNED_TUNNELS } from "../../ifaces/tunnel-reconciler.js";
import { fdbText, neighborText } from "../../routes/neighbor.js";
import { KernelNetlinkNeighbors } from "../../routes/netlink-neighbors.js";
import type { LiveDifference } from "./live-diff.js";

export async function networkLiveDiff(state: DesiredState): Promise<LiveDifference[]> {
  const out: LiveDifference[] = [];
  const links = new IpTunnelLinks();
  for (const name of OWNED_TUNNELS) {
    const want = state.network.tunnels[name];
    const have = await links.get(name);
    if (!want) {
      if (have?.kind === "vxlan" && name === "vxlan.calico") out.push({ area: "tunnel", item: name, problem: "stale" });
      continue;
    }
    if (!have) {
      out.push({ area: "tunnel", item: name, problem: "missing" });
      continue;
    }
    const problems: string[] = [];
    if (want.kind === "vxlan") {
      if (have.vni !== want.vni) problems.push(`vni ${have.vni}, want ${want.vni}`);
      if (have.port !== want.port) problems.push(`port ${have.port}, want ${want.port}`);
      if (have.local !== want.localIp) problems.push(`local ${have.local}, want ${want.localIp}`);
      if (have.mac?.toLowerCase() !== want.mac) problems.push(`mac ${have.mac}, want ${want.mac}`);
    }
    if (want.mtu !== undefined && have.mtu !== want.mtu) problems.push(`mtu ${have.mtu}, want ${want.mtu}`);
    if (!have.up) problems.push("down");
    if (!have.addrs.includes(`${want.address}/32`)) problems.push(`no address ${want.address}/32`);
    if (problems.length) out.push({ area: "tunnel", item: name, problem: problems.join("; ") });
  }
  const nl = new KernelNetlinkNeighbors();
  try {
    const dev = "vxlan.calico";
    const wantN = Object.values(state.network.neighbors);
    const wantF = Object.values(state.network.fdb);
    let haveN: Awaited<ReturnType<typeof nl.listNeighbors>> = [];
    let haveF: Awaited<ReturnType<typeof nl.listFdb>> = [];
    try {
      [haveN, haveF] = [await nl.listNeighbors(dev), await nl.listFdb(dev)];
    } catch {
      // No device: every wanted entry is missing (reported below).
    }
    const nKeys = new Set(haveN.map(neighborText));
    const fKeys = new Set(haveF.map(fdbText));
    for (const n of wantN)
      if (!nKeys.delete(neighborText(n))) out.push({ area: "neighbour", item: neighborText(n), problem: "missing" });
    for (const k of nKeys) out.push({ area: "neighbour", item: k, problem: "stale" });
    for (const f of wantF)
      if (!fKeys.delete(fdbText(f))) out.push({ area: "fdb", item: fdbText(f), problem: "missing" });
    for (const k of fKeys) out.push({ area: "fdb", item: k, problem: "stale" });
  } finally {
    nl.close();
  }
  return out;
}
