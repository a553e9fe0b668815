// Renders workload interfaces from their claimants (iface-owners.ts): one
// claimant → its endpoint; none → its chains and sysctls go; two or more → a
// collision: neither pod is programmed, both directions drop, and each pod
// gets a problem naming the other. Tracks which interfaces are in dispatch.

import type { Draft } from "immer";
import { Actions, type Chain, NO_MATCH, type Rule, rule } from "../model/rule.js";
import type { TableName } from "../model/tables.js";
import type { DesiredState } from "./desired-state.js";
import { IfaceOwners } from "./iface-owners.js";
import type { IpVersion } from "./model.js";
import { peek } from "./plain.js";
import { type Direction, endpointChainName } from "./rules/names.js";

const FAMILIES: readonly IpVersion[] = [4, 6];
const DIRECTIONS: readonly Direction[] = ["inbound", "outbound"];

export interface IfaceRenderIO {
  putChain(v: IpVersion, table: TableName, chain: Chain | undefined, name: string): void;
  /** Renders the interface's one endpoint (chains, state, routes, sysctls). */
  putEndpoint(d: Draft<DesiredState>, key: string): void;
  /** Withdraws an endpoint's claim on a local workload route (another claimant's may then be due). */
  deleteLocalRoute(d: Draft<DesiredState>, net: string, key: string): void;
}

export class IfaceRenderer {
  /** Local endpoints by the interface they claim. */
  private readonly owners = new IfaceOwners();
  /** Interfaces in dispatch (colliding ones included: their chains drop). */
  private readonly dispatched = new Set<string>();
  private readonly collided = new Map<string, string[]>();

  constructor(
    private readonly nodeName: string,
    private readonly io: IfaceRenderIO,
  ) {}

  /** Records an endpoint's (new) interface; returns the interfaces to re-render. */
  move(key: string, iface: string | undefined): string[] {
    return this.owners.move(key, iface);
  }

  /** The interfaces in dispatch. */
  ifaces(): string[] {
    return [...this.dispatched];
  }

  /**
   * Renders one interface from its claimants; returns whether it entered or
   * left dispatch. Its chains go only with its last claimant (refcount).
   */
  put(d: Draft<DesiredState>, iface: string): boolean {
    const keys = this.owners.claimants(iface);
    const was = this.dispatched.has(iface);
    for (const key of this.collided.get(iface) ?? []) delete d.problems[collisionProblemKey(key)];
    this.collided.delete(iface);
    if (keys.length === 0) {
      for (const v of FAMILIES) {
        for (const dir of DIRECTIONS) this.io.putChain(v, "filter", undefined, endpointChainName(dir, iface));
      }
      deleteSysctls(d, iface);
      this.dispatched.delete(iface);
      return was;
    }
    this.dispatched.add(iface);
    if (keys.length === 1) {
      this.io.putEndpoint(d, keys[0]);
      return !was;
    }
    // A collision: neither pod is programmed (not even the sysctls the first one set); its traffic both ways is dropped.
    for (const key of keys) this.withdraw(d, key);
    deleteSysctls(d, iface);
    for (const v of FAMILIES) {
      for (const dir of DIRECTIONS) {
        const name = endpointChainName(dir, iface);
        this.io.putChain(v, "filter", { name, rules: collisionRules() }, name);
      }
    }
    for (const key of keys) {
      const pk = collisionProblemKey(key);
      const others = keys.filter((k) => k !== key).join(", ");
      const message = `interface ${iface} is also the interface of pod ${others} (their names hash alike): neither pod is programmed and traffic on ${iface} is dropped; rename one of them`;
      d.problems[pk] = { key: pk, message, node: this.nodeName };
    }
    this.collided.set(iface, keys);
    return !was;
  }

  /** Takes a colliding endpoint's state and routes out of the snapshot. */
  private withdraw(d: Draft<DesiredState>, key: string): void {
    const st = peek(d.endpoints, key);
    if (!st) return;
    for (const net of [...st.ipv4Nets, ...st.ipv6Nets]) {
      this.io.deleteLocalRoute(d, net, key);
    }
    delete d.endpoints[key];
  }
}

function deleteSysctls(d: Draft<DesiredState>, iface: string): void {
  for (const k of Object.keys(d.sysctls)) if (k.includes(`/${iface}/`)) delete d.sysctls[k];
}

/** Where a pod's interface collision is reported: next to its own problems, so it becomes a Warning event. */
export const collisionProblemKey = (endpointKey: string) => `Pod/${endpointKey}/iface`;

function collisionRules(): Rule[] {
  return [rule(NO_MATCH, Actions.drop, "Interface name collision: neither pod is programmed")];
}
