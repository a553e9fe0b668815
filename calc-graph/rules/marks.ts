// Packet-mark bits, allocated lowest-first from Felix's default mask 0xffff0000.

export const MARK_ACCEPT = 0x10000;
export const MARK_PASS = 0x20000;
export const MARK_DROP = 0x40000;
export const MARK_SCRATCH0 = 0x80000;
export const MARK_SCRATCH1 = 0x100000;
export const MARK_ALL = MARK_ACCEPT | MARK_PASS | MARK_DROP | MARK_SCRATCH0 | MARK_SCRATCH1;
/**
 * What Felix clears "for safety" (allCalicoMarkBits: accept, pass, scratch0,
 * scratch1; not the drop bit, which only its BPF mode uses): raw PREROUTING
 * and OUTPUT clear all of it; cali-FORWARD all but the accept bit, which
 * carries a verdict from the raw/pre-DNAT chains.
 */
export const MARK_CALICO = MARK_ACCEPT | MARK_PASS | MARK_SCRATCH0 | MARK_SCRATCH1;

/**
 * Endpoint marks (IPVS support): a per-interface value set in filter INPUT so
 * that filter OUTPUT, where the input interface is gone, can still run the
 * source workload's egress policy. Felix takes every bit its mask leaves
 * (0xffe00000); we leave out 0x200000 and 0x400000, our service proxies'
 * masquerade marks, so 9 bits: 510 local interfaces.
 */
export const MARK_ENDPOINT = 0xff800000;
/** The endpoint-mark value for traffic from an interface that is no workload (Felix: its lowest bit). */
export const MARK_NON_CALI_ENDPOINT = 0x800000;

/**
 * Service traffic to masquerade (iptables proxy mode; kube-proxy's 0x4000
 * moved into Felix's mask). Set by cali-MARK-MASQ in nat, read and cleared
 * by cali-MASQUERADE in POSTROUTING. Deliberately outside MARK_ALL: the
 * policy chains clear MARK_ALL in filter FORWARD, between the two.
 */
export const MARK_MASQ = 0x200000;
