// The networking part of a DesiredState: tunnel devices, the neighbour and
// FDB entries on them, and the MTU settings.

import type { MtuSettings, TunnelDevice } from "../../ifaces/tunnel.js";
import { DEFAULT_MTU_IFACE_PATTERN } from "../../ifaces/tunnel.js";
import type { FdbEntry, NeighborEntry } from "../../routes/neighbor.js";

export interface NetworkState {
  /** Whether any IP pool exists; with none the agent behaves as before pools (no MTU file). */
  readonly poolsInUse: boolean;
  /** By device name. */
  readonly tunnels: Readonly<Record<string, TunnelDevice>>;
  /** By `<dev> <ip>`. */
  readonly neighbors: Readonly<Record<string, NeighborEntry>>;
  /** By `<dev> <mac>`. */
  readonly fdb: Readonly<Record<string, FdbEntry>>;
  readonly mtu: MtuSettings;
}

export const EMPTY_NETWORK: NetworkState = {
  poolsInUse: false,
  tunnels: {},
  neighbors: {},
  fdb: {},
  mtu: { vxlan: false, ipip: false, ifacePattern: DEFAULT_MTU_IFACE_PATTERN },
};
