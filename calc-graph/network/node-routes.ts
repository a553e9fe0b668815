// The routes to other nodes' blocks and borrowed addresses in the state
// being built: which node contributed which route, so a node's stale routes
// go when it changes, and which addresses a removed local route freed, so a
// remote workload's route for the same address comes back. Separate from
// StateBuilder because it is the one piece of route bookkeeping it carries.
//
// Local workload routes are claims too: two local pods may report one
// address (IP reuse, a stale status). Like Felix's route table, the route is
// recomputed from every claimant whenever one comes or goes: the greatest
// interface name wins (a deterministic tie-break, whatever the order of
// updates), and when the winner goes the next claimant's route takes over.

import type { Draft } from "immer";
import type { Route } from "../../routes/route.js";
import type { DesiredState } from "../desired-state.js";
import { deleteKey, peek } from "../plain.js";
import type { NetworkDirty, NetworkIndex } from "./network-index.js";

export class NodeRoutes {
  /** Node → the routes it contributed. */
  private readonly byNode = new Map<string, string[]>();
  /** Addresses whose local route the flush in progress removed. */
  private readonly freed = new Set<string>();
  /** Address → local endpoint key → its interface: every local claimant of the address. */
  private readonly local = new Map<string, Map<string, string>>();

  constructor(private readonly network: NetworkIndex) {}

  /** Local endpoint `key` (on `iface`) has address `net`. */
  putLocalRoute(d: Draft<DesiredState>, net: string, key: string, iface: string): void {
    let claims = this.local.get(net);
    if (!claims) {
      claims = new Map();
      this.local.set(net, claims);
    }
    claims.set(key, iface);
    this.renderLocal(d, net);
  }

  /** Local endpoint `key` no longer has `net`: another claimant's route, or a remote workload's, may be due. */
  deleteLocalRoute(d: Draft<DesiredState>, net: string, key: string): void {
    const claims = this.local.get(net);
    if (!claims?.delete(key)) return;
    if (claims.size === 0) this.local.delete(net);
    this.renderLocal(d, net);
  }

  private renderLocal(d: Draft<DesiredState>, net: string): void {
    let dev: string | undefined;
    for (const iface of this.local.get(net)?.values() ?? []) if (dev === undefined || iface > dev) dev = iface;
    const old = peek(d.routes, net);
    if (dev === undefined) {
      if (old?.kind === "local-workload") {
        delete d.routes[net];
        this.freed.add(net); // a remote workload's route for the address may be due (flush)
      }
      return;
    }
    const route: Route = { dst: net, kind: "local-workload", type: "unicast", dev, scope: "link" };
    if (!old || old.dev !== route.dev || old.kind !== route.kind) d.routes[net] = route;
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
    else deleteKey(d.problems, problemKey);
    for (const dst of this.byNode.get(name) ?? []) {
      if (!wanted.has(dst) && peek(d.routes, dst)?.node === name) delete d.routes[dst];
    }
    for (const [dst, route] of wanted) {
      const old = peek(d.routes, dst);
      // A local workload's route wins over a remote one for the same address.
      if (old?.kind === "local-workload") continue;
      if (!old || JSON.stringify(old) !== JSON.stringify(route)) d.routes[dst] = route;
    }
    this.byNode.set(name, [...wanted.keys()]);
  }
}
