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

/** The mark bits the rules use, allocated from `iptablesMarkMask`. */
export interface Marks {
  readonly accept: number;
  readonly pass: number;
  readonly drop: number;
  readonly scratch0: number;
  readonly scratch1: number;
  /** accept | pass | drop | scratch0 | scratch1: what the policy chains clear. */
  readonly all: number;
  /** Service traffic to masquerade, iptables proxy mode (MARK_MASQ with the default mask). */
  readonly masq: number;
  /** The same for IPVS proxy mode (MARK_IPVS_MASQ, 0x400000, with the default mask). */
  readonly ipvsMasq: number;
}

/** Bits felix-ts takes from the mask: Felix's five, then the two service masquerade marks. */
export const MARK_BITS_NEEDED = 7;

/**
 * Felix's MarkBitsManager: single bits, lowest first, from the mask
 * (iptablesMarkMask, default 0xffff0000 → the constants above).
 */
export function allocateMarks(mask: number): Marks {
  const bits: number[] = [];
  for (let b = 0; b < 32 && bits.length < MARK_BITS_NEEDED; b++) {
    const bit = 2 ** b;
    if (Math.floor(mask / bit) % 2 === 1) bits.push(bit);
  }
  if (bits.length < MARK_BITS_NEEDED) {
    throw new Error(`mark mask 0x${mask.toString(16)} has ${bits.length} bits; felix-ts needs ${MARK_BITS_NEEDED}`);
  }
  const [accept, pass, drop, scratch0, scratch1, masq, ipvsMasq] = bits;
  return { accept, pass, drop, scratch0, scratch1, all: accept + pass + drop + scratch0 + scratch1, masq, ipvsMasq };
}

export const DEFAULT_MARKS: Marks = allocateMarks(0xffff0000);
