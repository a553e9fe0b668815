// VTEPs a node may not have: one whose MAC, tunnel address or underlay
// address another node already has. A node annotating another's VTEP MAC
// would otherwise take over its FDB entry (and its traffic). The local node
// keeps its own; among the others the first by name keeps it, whatever the
// order the nodes arrived in. A refused VTEP gets no neighbour or FDB entry
// and no VXLAN route.

import type { NodeInfo } from "../model.js";
import { vtepOf } from "./vtep.js";

/** Refused nodes → why. */
export function vtepConflicts(nodes: ReadonlyMap<string, NodeInfo>, localNode: string): Map<string, string> {
  const names = [...nodes.keys()].sort((a, b) => (a === localNode ? -1 : b === localNode ? 1 : a < b ? -1 : 1));
  const seen = new Map<string, string>();
  const refused = new Map<string, string>();
  for (const name of names) {
    // Both families' VTEPs (vxlan.calico and vxlan-v6.calico); a clash in either refuses the node's VTEPs.
    const keys = ([4, 6] as const).flatMap((v) => {
      const vtep = vtepOf(nodes.get(name)!, v);
      if (!vtep) return [];
      return [
        ["MAC", vtep.mac],
        ["tunnel address", vtep.tunnelAddr],
        ["underlay address", vtep.nodeIp],
      ] as const;
    });
    if (keys.length === 0) continue;
    const clash = keys.find(([what, v]) => seen.has(`${what} ${v}`));
    if (clash) {
      const [what, v] = clash;
      refused.set(name, `VTEP refused: its ${what} ${v} is node ${seen.get(`${what} ${v}`)}'s`);
      continue;
    }
    for (const [what, v] of keys) seen.set(`${what} ${v}`, name);
  }
  return refused;
}
