// Packet-mark bits, allocated lowest-first from Felix's default mask 0xffff0000.

export const MARK_ACCEPT = 0x10000;
export const MARK_PASS = 0x20000;
export const MARK_DROP = 0x40000;
export const MARK_SCRATCH0 = 0x80000;
export const MARK_SCRATCH1 = 0x100000;
export const MARK_ALL = MARK_ACCEPT | MARK_PASS | MARK_DROP | MARK_SCRATCH0 | MARK_SCRATCH1;

/**
 * Service traffic to masquerade (iptables proxy mode; kube-proxy's 0x4000
 * moved into Felix's mask). Set by cali-MARK-MASQ in nat, read and cleared
 * by cali-MASQUERADE in POSTROUTING. Deliberately outside MARK_ALL: the
 * policy chains clear MARK_ALL in filter FORWARD, between the two.
 */
export const MARK_MASQ = 0x200000;
