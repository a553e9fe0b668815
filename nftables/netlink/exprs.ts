// nf_tables expressions as netlink attributes (NFTA_LIST_ELEM { NAME, DATA }),
// with the attribute numbers of linux/netfilter/nf_tables.h. Only what our
// rule forms compile to (rule-compile.ts); each builder sends the attributes
// nft 1.0.6 sends for the same statement.

import { type Attr, attr, str, u32be } from "./codec.js";

const NFTA_LIST_ELEM = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;

/** A data attribute (NFTA_DATA_VALUE inside `type`). */
export const dataAttr = (type: number, value: Buffer): Attr => attr(type, [attr(NFTA_DATA_VALUE, value)]);

/** The NFTA_EXPR_NAME attribute of each expression name, made once (every rule has several). */
const names = new Map<string, Attr>();

function expr(name: string, data: readonly Attr[]): Attr {
  let n = names.get(name);
  if (!n) {
    n = str(NFTA_EXPR_NAME, name);
    names.set(name, n);
  }
  return attr(NFTA_LIST_ELEM, data.length ? [n, attr(NFTA_EXPR_DATA, data)] : [n]);
}

/** Registers: 0 is the verdict, 1-4 the 16-byte ones, 8-23 the 4-byte ones (what nft puts on the wire). */
export const REG_VERDICT = 0;
export const REG_1 = 1;

/** The wire register of the 4-byte word `word` of the register file (nft's netlink_put_register). */
export function reg32(word: number): number {
  return word % 4 === 0 ? REG_1 + word / 4 : 8 + word;
}

export const PayloadBase = { link: 0, network: 1, transport: 2 } as const;

export function payload(base: number, offset: number, len: number, dreg = REG_1): Attr {
  return expr("payload", [u32be(1, dreg), u32be(2, base), u32be(3, offset), u32be(4, len)]);
}

export const CmpOp = { eq: 0, neq: 1, lt: 2, lte: 3, gt: 4, gte: 5 } as const;

export function cmp(op: number, value: Buffer, sreg = REG_1): Attr {
  return expr("cmp", [u32be(1, sreg), u32be(2, op), dataAttr(3, value)]);
}

/** reg = (reg & mask) ^ xor over mask.length bytes. */
export function bitwise(mask: Buffer, xor: Buffer, reg = REG_1): Attr {
  return expr("bitwise", [u32be(1, reg), u32be(2, reg), u32be(3, mask.length), dataAttr(4, mask), dataAttr(5, xor)]);
}

export const MetaKey = { mark: 3, iifname: 6, oifname: 7, l4proto: 16 } as const;

export function metaLoad(key: number, dreg = REG_1): Attr {
  return expr("meta", [u32be(2, key), u32be(1, dreg)]);
}

export function metaSet(key: number, sreg = REG_1): Attr {
  return expr("meta", [u32be(2, key), u32be(3, sreg)]);
}

export const CtKey = { state: 0, status: 2 } as const;

export function ctLoad(key: number, dreg = REG_1): Attr {
  return expr("ct", [u32be(2, key), u32be(1, dreg)]);
}

export function lookup(set: string, sreg: number, setId: number | undefined, invert: boolean): Attr {
  const a = [u32be(2, sreg), str(1, set)];
  if (setId !== undefined) a.push(u32be(4, setId));
  if (invert) a.push(u32be(5, 1)); // NFT_LOOKUP_F_INV
  return expr("lookup", a);
}

/** A verdict map lookup (`… vmap @map`, numgen's anonymous map): the element's verdict into the verdict register. */
export function lookupVerdict(set: string, sreg: number, setId: number | undefined): Attr {
  const a = [u32be(2, sreg), u32be(3, REG_VERDICT), str(1, set)];
  if (setId !== undefined) a.push(u32be(4, setId));
  return expr("lookup", a);
}

/** `update @set { key }`: NFT_DYNSET_OP_UPDATE, the set's own timeout (nft sends none). */
export function dynsetUpdate(set: string, sreg: number): Attr {
  return expr("dynset", [u32be(4, sreg), u32be(3, 1), str(1, set)]);
}

/** Network order of a register (interval concatenations' protocol byte, as nft does). */
export function byteorderHton(reg: number, len: number, size: number): Attr {
  return expr("byteorder", [u32be(1, reg), u32be(2, reg), u32be(3, 1), u32be(4, len), u32be(5, size)]);
}

export function range(neq: boolean, from: Buffer, to: Buffer, sreg = REG_1): Attr {
  return expr("range", [u32be(1, sreg), u32be(2, neq ? 1 : 0), dataAttr(3, from), dataAttr(4, to)]);
}

export const FibFlag = { saddr: 1, daddr: 2, mark: 4, iif: 8, oif: 16 } as const;
export const FibResult = { oif: 1, addrtype: 3 } as const;

export function fib(flags: number, result: number, dreg = REG_1): Attr {
  return expr("fib", [u32be(1, dreg), u32be(2, result), u32be(3, flags)]);
}

export function numgenRandom(modulus: number, dreg = REG_1): Attr {
  return expr("numgen", [u32be(1, dreg), u32be(2, modulus), u32be(3, 1), u32be(4, 0)]);
}

export function immediateData(value: Buffer, dreg: number): Attr {
  return expr("immediate", [u32be(1, dreg), dataAttr(2, value)]);
}

/** NF_DROP 0, NF_ACCEPT 1, NFT_JUMP -3, NFT_GOTO -4, NFT_RETURN -5. */
export const Verdict = { drop: 0, accept: 1, jump: -3, goto: -4, return: -5 } as const;

/** NFTA_DATA_VERDICT { code, chain } inside attribute `type` (an immediate's data, a map element's). */
export function verdictData(type: number, code: number, chain?: string): Attr {
  const v = [u32be(1, code)];
  if (chain !== undefined) v.push(str(2, chain));
  return attr(type, [attr(NFTA_DATA_VERDICT, v)]);
}

export function verdict(code: number, chain?: string): Attr {
  return expr("immediate", [u32be(1, REG_VERDICT), verdictData(2, code, chain)]);
}

export function reject(icmpCode: number): Attr {
  // NFT_REJECT_ICMP_UNREACH with the family's port-unreachable code.
  return expr("reject", [u32be(1, 0), attr(2, Buffer.from([icmpCode]))]);
}

/** NF_NAT_RANGE_* flags. */
export const NatFlag = { protoSpecified: 2, randomFully: 0x10 } as const;

export function masq(flags: number, protoMin?: number, protoMax?: number): Attr {
  const a: Attr[] = [];
  if (flags) a.push(u32be(1, flags));
  if (protoMin !== undefined) a.push(u32be(2, protoMin));
  if (protoMax !== undefined) a.push(u32be(3, protoMax));
  return expr("masq", a);
}

export interface NatRegs {
  readonly addrMin: number;
  readonly protoMin?: number;
  readonly protoMax?: number;
}

export function nat(dnat: boolean, nfproto: number, r: NatRegs, flags: number): Attr {
  const a: Attr[] = [u32be(1, dnat ? 1 : 0), u32be(2, nfproto), u32be(3, r.addrMin)];
  if (r.protoMin !== undefined) a.push(u32be(5, r.protoMin));
  if (r.protoMax !== undefined) a.push(u32be(6, r.protoMax));
  if (flags) a.push(u32be(7, flags));
  return expr("nat", a);
}

export const notrack = (): Attr => expr("notrack", []);
export const counter = (): Attr => expr("counter", []);

export function logGroup(prefix: string, group: number): Attr {
  const g = Buffer.alloc(2);
  g.writeUInt16BE(group);
  return expr("log", [str(2, prefix), attr(1, g)]);
}

export function logLevel(prefix: string, level: number): Attr {
  return expr("log", [str(2, prefix), u32be(5, level)]);
}
