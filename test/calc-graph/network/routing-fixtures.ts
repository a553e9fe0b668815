// Nodes, pools and block affinities for the routing-claims tests, and the
// order check they share. Inert module.

import assert from "node:assert/strict";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { update } from "../fixtures.js";

export const node = (name: string, n: number, annotations: Record<string, string> = {}, podCIDR = `10.244.${n}.0/24`) =>
  update("Node", "", name, {
    kind: "Node",
    metadata: {
      name,
      annotations: {
        "projectcalico.org/IPv4Address": `172.31.250.${n}/24`,
        "projectcalico.org/IPv4VXLANTunnelAddr": `10.244.${n}.0`,
        ...annotations,
      },
    },
    spec: podCIDR ? { podCIDR } : {},
    status: { addresses: [{ type: "InternalIP", address: `172.31.250.${n}` }] },
  });
export const pool = (spec: Record<string, unknown> = {}, name = "p") =>
  update("IPPool", "", name, {
    kind: "IPPool",
    metadata: { name },
    spec: { cidr: "10.244.0.0/16", blockSize: 24, ...spec },
  });
export const affinity = (nodeName: string, cidr: string) =>
  update("BlockAffinity", "", `${nodeName}-${cidr.replace(/[./]/g, "-")}`, {
    kind: "BlockAffinity",
    metadata: { name: `${nodeName}-${cidr.replace(/[./]/g, "-")}` },
    spec: { node: nodeName, cidr, state: "confirmed" },
  });
export const three = [node("node1", 1), node("node2", 2), node("node3", 3)];

/** The same final state whatever the order of the updates. */
export function bothOrders(nodeName: string, updates: ResourceUpdate[]): CalcGraph {
  const a = new CalcGraph({ nodeName });
  a.apply(updates);
  const b = new CalcGraph({ nodeName });
  for (const u of [...updates].reverse()) b.apply([u]);
  assert.deepEqual(b.current.routes, a.current.routes, "routes do not depend on the order of updates");
  assert.deepEqual(b.current.network, a.current.network, "network state does not depend on the order");
  return a;
}
