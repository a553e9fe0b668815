// Neighbour (ARP) and bridge-FDB entries on our VXLAN device: for each remote
// VTEP, its tunnel IP resolves to its VTEP MAC (permanent ARP entry) and its
// VTEP MAC is sent to its node IP (FDB entry with a destination). Together
// with the `onlink` route via the tunnel IP they make the VXLAN path.

export interface NeighborEntry {
  readonly dev: string;
  readonly ip: string;
  /** Lower-case MAC. */
  readonly mac: string;
  readonly node?: string;
}

export interface FdbEntry {
  readonly dev: string;
  /** Lower-case MAC. */
  readonly mac: string;
  /** The remote VTEP's underlay address. */
  readonly dst: string;
  readonly node?: string;
}

export const neighborKey = (n: Pick<NeighborEntry, "dev" | "ip">) => `${n.dev} ${n.ip}`;
export const fdbKey = (f: Pick<FdbEntry, "dev" | "mac">) => `${f.dev} ${f.mac}`;

/** As `ip neigh show` prints it. */
export function neighborText(n: NeighborEntry): string {
  return `${n.ip} dev ${n.dev} lladdr ${n.mac} PERMANENT`;
}

/** As `bridge fdb show` prints it. */
export function fdbText(f: FdbEntry): string {
  return `${f.mac} dev ${f.dev} dst ${f.dst} self permanent`;
}
