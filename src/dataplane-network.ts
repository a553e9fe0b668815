// The networking reconcilers as the dataplane driver uses them (tunnel
// devices with the MTU file; neighbour/FDB entries).

import type { NetworkState } from "../calc-graph/network/state.js";
import type { TunnelApplyResult } from "../ifaces/tunnel-reconciler.js";
import type { FdbEntry, NeighborEntry } from "../routes/neighbor.js";
import type { NeighborApplyResult } from "../routes/neighbor-reconciler.js";

export interface NetworkSync {
  setDesired(network: NetworkState): void;
  apply(): Promise<TunnelApplyResult>;
}

export interface NeighborSync {
  setDesired(neighbors: Record<string, NeighborEntry>, fdb: Record<string, FdbEntry>): void;
  apply(): Promise<NeighborApplyResult>;
  readonly pendingDevices: readonly string[];
}
