// The tunnel devices the agent owns (`vxlan.calico`, `tunl0`) and the MTU
// settings, as the calc graph decides them. MTUs left undefined are detected
// by the dataplane from the underlay (Felix: host MTU minus the overhead).

export type TunnelKind = "vxlan" | "ipip";

export interface TunnelDevice {
  readonly name: string;
  readonly kind: TunnelKind;
  /** The node's tunnel address, assigned as a /32. */
  readonly address: string;
  /** Configured MTU; undefined: host MTU minus the encapsulation overhead. */
  readonly mtu?: number;
  /** VXLAN: VNI, UDP port, underlay source address, VTEP MAC. */
  readonly vni?: number;
  readonly port?: number;
  readonly localIp?: string;
  readonly mac?: string;
}

/** Bytes each encapsulation adds (IPv4 outer header; VXLAN adds UDP + VXLAN + inner Ethernet). */
export const ENCAP_OVERHEAD: Readonly<Record<TunnelKind, number>> = { ipip: 20, vxlan: 50 };
/** IPv6 VXLAN: a 40-byte outer header (Felix's VXLANMTUV6 default: host MTU − 70). */
export const VXLAN_V6_OVERHEAD = 70;

/** What a device's encapsulation costs (IPv6 VXLAN by its underlay address). */
export function overheadOf(t: Pick<TunnelDevice, "kind" | "localIp">): number {
  return t.kind === "vxlan" && t.localIp?.includes(":") ? VXLAN_V6_OVERHEAD : ENCAP_OVERHEAD[t.kind];
}

/** Felix's default mtuIfacePattern: the interfaces whose MTU is the host MTU. */
export const DEFAULT_MTU_IFACE_PATTERN = "^((en|wl|ww|sl|ib)[Pcopsvx].*|(eth|wlan|wwan).*)";

/** Felix's fallback host MTU when no interface matches. */
export const DEFAULT_HOST_MTU = 1460;

export interface MtuSettings {
  /** Encapsulations in use on this node. */
  readonly vxlan: boolean;
  readonly ipip: boolean;
  /** IPv6 VXLAN (vxlan-v6.calico) in use. */
  readonly vxlanV6?: boolean;
  /** Configured MTUs (0/undefined: auto). */
  readonly vxlanMtu?: number;
  readonly ipipMtu?: number;
  readonly vxlanMtuV6?: number;
  readonly ifacePattern: string;
}

export interface MtuResult {
  readonly hostMtu: number;
  readonly vxlanMtu: number;
  readonly ipipMtu: number;
  readonly vxlanMtuV6: number;
  /** What pods should use: the smallest MTU of the encapsulations in use, else the host MTU. */
  readonly podMtu: number;
}

/** Felix's determinePodMTU over a detected host MTU. */
export function resolveMtu(s: MtuSettings, hostMtu: number): MtuResult {
  const vxlanMtu = s.vxlanMtu || hostMtu - ENCAP_OVERHEAD.vxlan;
  const ipipMtu = s.ipipMtu || hostMtu - ENCAP_OVERHEAD.ipip;
  const vxlanMtuV6 = s.vxlanMtuV6 || hostMtu - VXLAN_V6_OVERHEAD;
  const used = [s.vxlan ? vxlanMtu : 0, s.ipip ? ipipMtu : 0, s.vxlanV6 ? vxlanMtuV6 : 0].filter((m) => m > 0);
  return { hostMtu, vxlanMtu, ipipMtu, vxlanMtuV6, podMtu: used.length ? Math.min(...used) : hostMtu };
}
