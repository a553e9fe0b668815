// The routes to other nodes' blocks and borrowed addresses in the state
// being built: which node contributed which route, so a node's stale routes
// go when it changes, and which addresses a removed local route freed, so a
// remote workload's route for the same address comes back. Separate from
// StateBuilder because it is the one piece of route bookkeeping it carries.

import type { Draft } from "immer";
import type { DesiredState } from "../desired-state.js";
import type { NetworkDirty, NetworkIndex } from "./network-index.js";

export class NodeRoutes {
  /** Node → the routes it contributed. */
  private readonly byNode = new Map<string, string[]>();
  /** Addresses whose local route the flush in progress removed. */
  private readonly freed = new Set<string>();

  constructor(private readonly network: NetworkIndex) {}

  /** A local workload's route goes: a remote workload's route for the address may be due (flush). */
  deleteLocalRoute(d: Draft<DesiredState>, net: string): void {
    delete d.routes[net];
    this.freed.add(net);
  }

  /** Re-renders the routes of the nodes the batch made dirty and of those with a workload at a freed address. */
  flush(d: Draft<DesiredState>, net: NetworkDirty, dirtyNodes: ReadonlySet<string>): void {
    const routed = net.all
      ? [...this.network.nodeNames(), ...this.byNode.keys()]
      : [...dirtyNodes, ...net.nodes, ...net.routes];
    for (const dst of this.freed) routed.push(...this.network.workloadNodesAt(dst));
    this.freed.clear();
    for (const name of new Set(routed)) this.put(d, name);
  }

  private put(d: Draft<DesiredState>, name: string): void {
    // Per pool and routing mode (block-routes.ts); with no pool, via the node's address.
    const { routes: wanted, problem } = this.network.routesFor(name);
    const problemKey = `Node//${name}/routes`;
    if (problem) d.problems[problemKey] = { key: problemKey, message: problem };
    else delete d.problems[problemKey];
    for (const dst of this.byNode.get(name) ?? []) {
      if (!wanted.has(dst) && d.routes[dst]?.node === name) delete d.routes[dst];
    }
    for (const [dst, route] of wanted) {
      const old = d.routes[dst];
      // A local workload's route wins over a remote one for the same address.
      if (old?.kind === "local-workload") continue;
      if (!old || JSON.stringify(old) !== JSON.stringify(route)) d.routes[dst] = route;
    }
    this.byNode.set(name, [...wanted.keys()]);
  }
}
