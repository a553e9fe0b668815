// The cluster a trace runs over: every Node of the input, each node's graph
// (computed when the trace first reaches the node, as that node's agent
// would compute it) and every workload endpoint with its addresses.

import type { CalcGraph, GraphConfig } from "../calc-graph/calc-graph.js";
import { nodeToNodeInfo } from "../calc-graph/conversion/node.js";
import type { WorkloadEndpoint } from "../calc-graph/model.js";
import type { Node } from "../model/k8s.js";
import type { ResourceUpdate } from "../model/resource.js";
import type { RuleRenderer } from "../model/rule-renderer.js";
import type { ClusterModel } from "./cluster-trace.js";
import { type NodeView, nodeView } from "./node-view.js";

export function clusterModel(
  updates: readonly ResourceUpdate[],
  cfgFor: (node: string) => GraphConfig,
  renderer: RuleRenderer,
): ClusterModel {
  const nodeAddresses = new Map<string, readonly string[]>();
  for (const u of updates) {
    if (u.kind !== "Node" || !u.value) continue;
    try {
      nodeAddresses.set(u.name, nodeToNodeInfo(u.value as Node).internalIPs);
    } catch {
      // an invalid Node: the graph reports it; it has no addresses here
    }
  }
  const nodeNames = [...nodeAddresses.keys()].sort();
  const endpoints = new Map<string, WorkloadEndpoint>();
  const views = new Map<string, NodeView>();
  const observe = (g: CalcGraph) =>
    g.converter.endpoints$.subscribe(({ key, ep }) => void (ep ? endpoints.set(key, ep) : endpoints.delete(key)));
  const node = (name: string): NodeView => {
    let v = views.get(name);
    if (!v) {
      v = nodeView(
        cfgFor(name),
        updates,
        renderer,
        nodeAddresses.get(name) ?? [],
        views.size === 0 ? observe : undefined,
      );
      views.set(name, v);
    }
    return v;
  };
  // The endpoints come from the first graph run (they are the same on every node).
  node(nodeNames[0] ?? "");
  return { node, nodeNames, nodeAddresses, endpoints };
}
