// Our rule statements (render.ts's forms, exactly as `nft list` prints them)
// compiled to the expressions nft 1.0.6 sends for them: `nft --debug=netlink`
// of the same text lists the same bytecode (test/nftables/netlink-kernel.test.ts
// compares both for every golden rule). The grammar is ours and small; a form
// it does not know throws NetlinkUnsupported and the transaction goes through
// `nft -f` instead, so nothing is ever written as something else.

import type { NftFamily } from "../backend.js";
import type { NftSetKey } from "../commands.js";
import { ICMP_CODES, ICMP_TYPES, ICMPV6_CODES, ICMPV6_TYPES } from "../render.js";
import type { Attr } from "./codec.js";
import { NetlinkUnsupported, plusOne, UDATA_INTERVAL_OPEN, type WireElement } from "./elements.js";
import * as X from "./exprs.js";
import { tokenize } from "./tokens.js";

/** An anonymous port set (`tcp dport { 80, 443-450 }`), declared in the same batch. */
export interface AnonSetDef {
  /** nft's key type id and length (inet_service, 2; icmp_type . icmp_code, 8). */
  readonly keyType: number;
  readonly keyLen: number;
  readonly interval: boolean;
  readonly elements: readonly WireElement[];
  /** NFTA_SET_USERDATA as nft writes it (byte order, merge flag, typeof the key). */
  readonly udata: Buffer;
}

export interface CompileContext {
  readonly family: NftFamily;
  /** Our named sets' keys (a lookup into an interval concatenation needs nft's byteorder step). */
  readonly setKey: (name: string) => NftSetKey | undefined;
  /** Declares an anonymous set; returns the name and batch id a lookup refers to it by. */
  readonly anonSet: (def: AnonSetDef) => { readonly name: string; readonly id: number };
}

export interface CompiledRule {
  readonly exprs: readonly Attr[];
  /** NFTA_RULE_USERDATA: the comment, as nft stores it. */
  readonly userdata?: Buffer;
}

/** Protocol names nft lists (its /etc/protocols), by number. */
const PROTOCOLS: Readonly<Record<string, number>> = {
  icmp: 1,
  igmp: 2,
  ipencap: 4,
  tcp: 6,
  udp: 17,
  dccp: 33,
  gre: 47,
  esp: 50,
  ah: 51,
  "ipv6-icmp": 58,
  sctp: 132,
  udplite: 136,
};
/** nft's protocol descriptor ids (typeof user data of a port set). */
const PROTO_DESC: Readonly<Record<string, number>> = { udp: 6, udplite: 7, tcp: 8, dccp: 9, sctp: 10, th: 11 };
const CT_STATE_BITS: Readonly<Record<string, number>> = {
  invalid: 1,
  established: 2,
  related: 4,
  new: 8,
  untracked: 64,
};
const IP_DPS_DNAT = 0x20;
const RTN_LOCAL = 2;
const NFPROTO = { ip: 2, ip6: 10 } as const;
const NAME_MAX = 255;
const COMMENT_MAX = 128;
const IFNAMSIZ = 16;

const hostU32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0); // registers hold marks and conntrack bits in host order (x86, arm64: little endian)
  return b;
};
const be16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const unsupported = (what: string) => new NetlinkUnsupported(what);

function num(t: string | undefined, max: number): number {
  if (t === undefined || !/^\d+$/.test(t) || Number(t) > max) throw unsupported(`number ${JSON.stringify(t)}`);
  return Number(t);
}

function hexU32(t: string | undefined): number {
  if (t === undefined || !/^0x[0-9a-f]{8}$/.test(t)) throw unsupported(`mark ${JSON.stringify(t)}`);
  return Number.parseInt(t.slice(2), 16);
}

function setName(t: string | undefined): string {
  if (t === undefined || !t.startsWith("@") || t.length - 1 > NAME_MAX || !/^@[A-Za-z0-9_./-]+$/.test(t)) {
    throw unsupported(`set reference ${JSON.stringify(t)}`);
  }
  return t.slice(1);
}

function quoted(t: string | undefined): string {
  if (t === undefined || t.length < 2 || !t.startsWith('"') || !t.endsWith('"')) throw unsupported(`string ${t}`);
  const s = t.slice(1, -1);
  if (/["\\\0\n]/.test(s)) throw unsupported(`string ${t}`);
  return s;
}

class Compiler {
  private readonly out: Attr[] = [];
  private at = 0;
  /** The transport protocol an earlier match fixed (nft's dependency context). */
  private l4: number | undefined;
  private userdata?: Buffer;
  private readonly v6: boolean;

  constructor(
    private readonly toks: readonly string[],
    private readonly ctx: CompileContext,
  ) {
    this.v6 = ctx.family === "ip6";
  }

  private peek(k = 0): string | undefined {
    return this.toks[this.at + k];
  }
  private next(): string | undefined {
    return this.toks[this.at++];
  }
  private expect(t: string): void {
    const got = this.next();
    if (got !== t) throw unsupported(`${JSON.stringify(got)} where ${JSON.stringify(t)} belongs`);
  }
  /** `!=` (or `!` for bit tests) before a value: consumed, true. */
  private negation(sign = "!="): boolean {
    if (this.peek() !== sign) return false;
    this.at++;
    return true;
  }

  compile(): CompiledRule {
    while (this.at < this.toks.length) this.statement(this.next() as string);
    return { exprs: this.out, userdata: this.userdata };
  }

  private statement(t: string): void {
    const fam = this.ctx.family;
    switch (t) {
      case "ip":
      case "ip6":
        if (t !== fam) throw unsupported(`${t} match in the ${fam} table`);
        this.address();
        return;
      case "iifname":
      case "oifname":
        this.ifname(t === "iifname" ? X.MetaKey.iifname : X.MetaKey.oifname);
        return;
      case "meta":
        this.meta();
        return;
      case "tcp":
      case "udp":
      case "sctp":
      case "udplite":
      case "dccp":
      case "th":
        this.ports(t);
        return;
      case "ct":
        this.ct();
        return;
      case "fib":
        this.fib();
        return;
      case "icmp":
      case "icmpv6":
        this.icmp(t);
        return;
      case "numgen":
        this.expect("random");
        this.expect("mod");
        this.out.push(X.numgenRandom(num(this.next(), 0xffffffff)));
        this.out.push(X.cmp(X.CmpOp.eq, hostU32(num(this.next(), 0xffffffff))));
        return;
      case "accept":
      case "drop":
      case "return":
        this.out.push(X.verdict(X.Verdict[t]));
        return;
      case "jump":
      case "goto": {
        const chain = this.next();
        if (!chain || chain.length > NAME_MAX || !/^[A-Za-z0-9][A-Za-z0-9_./-]*$/.test(chain))
          throw unsupported(`chain ${chain}`);
        this.out.push(X.verdict(X.Verdict[t], chain));
        return;
      }
      case "reject":
        this.out.push(X.reject(this.v6 ? 4 : 3)); // port unreachable
        return;
      case "masquerade":
      case "snat":
      case "dnat":
        this.nat(t);
        return;
      case "notrack":
        this.out.push(X.notrack());
        return;
      case "counter":
        this.out.push(X.counter());
        return;
      case "log":
        this.log();
        return;
      case "comment":
        this.comment();
        return;
      default:
        throw unsupported(`statement ${JSON.stringify(t)}`);
    }
  }

  /** `ip saddr|daddr …`: an address, a prefix, a set, or the first field of a concatenation. */
  private address(): void {
    const field = this.next();
    if (field !== "saddr" && field !== "daddr") throw unsupported(`ip ${field}`);
    if (this.peek() === ".") {
      this.concat(field);
      return;
    }
    const neq = this.negation();
    const v = this.next();
    const [off, len] = this.addrField(field);
    if (v?.startsWith("@")) {
      this.out.push(X.payload(X.PayloadBase.network, off, len));
      this.out.push(X.lookup(setName(v), X.REG_1, undefined, neq));
      return;
    }
    const [addr, bits] = parseCidr(v, this.v6);
    const op = neq ? X.CmpOp.neq : X.CmpOp.eq;
    if (bits === len * 8) {
      this.out.push(X.payload(X.PayloadBase.network, off, len), X.cmp(op, addr));
    } else if (bits % 8 === 0 && bits > 0) {
      // A byte-aligned prefix: nft loads just its bytes.
      this.out.push(X.payload(X.PayloadBase.network, off, bits / 8), X.cmp(op, addr.subarray(0, bits / 8)));
    } else if (bits > 0) {
      const mask = Buffer.alloc(len);
      for (let i = 0; i < len; i++) mask[i] = (0xff << (8 - Math.max(0, Math.min(8, bits - i * 8)))) & 0xff;
      this.out.push(X.payload(X.PayloadBase.network, off, len), X.bitwise(mask, Buffer.alloc(len)), X.cmp(op, addr));
    } else throw unsupported(`prefix ${v}`);
  }

  private addrField(field: string): [number, number] {
    if (this.v6) return [field === "saddr" ? 8 : 24, 16];
    return [field === "saddr" ? 12 : 16, 4];
  }

  /** `ip daddr . meta l4proto . th dport [. ip saddr] [!=] @set`: registers side by side, one lookup. */
  private concat(first: string): void {
    const loads: { attr: () => Attr; len: number; proto?: boolean; dep?: number }[] = [];
    const addr = (f: string) => {
      const [off, len] = this.addrField(f);
      loads.push({ attr: () => X.payload(X.PayloadBase.network, off, len, reg), len });
    };
    let reg = X.REG_1;
    addr(first);
    while (this.peek() === ".") {
      this.at++;
      const t = this.next();
      if (t === "meta" && this.peek() === "l4proto") {
        this.at++;
        loads.push({ attr: () => X.metaLoad(X.MetaKey.l4proto, reg), len: 1, proto: true });
      } else if (t === this.ctx.family) {
        addr(this.next() as string);
      } else if (t && t in PROTO_DESC && this.peek() === "dport") {
        this.at++;
        loads.push({
          attr: () => X.payload(X.PayloadBase.transport, 2, 2, reg),
          len: 2,
          dep: t === "th" ? undefined : PROTOCOLS[t],
        });
      } else throw unsupported(`concatenation field ${t}`);
    }
    const neq = this.negation();
    const name = setName(this.next());
    const key = this.ctx.setKey(name);
    if (!key) throw unsupported(`lookup in set ${name}, which the transaction does not know`);
    for (const l of loads) if (l.dep !== undefined) this.dependency(l.dep);
    let word = 0;
    for (const l of loads) {
      reg = X.reg32(word);
      this.out.push(l.attr());
      // nft puts an interval concatenation's protocol byte in network order (a no-op the kernel still runs).
      if (l.proto && key.interval) this.out.push(X.byteorderHton(reg, 1, 2));
      word += Math.ceil(l.len / 4);
    }
    this.out.push(X.lookup(name, X.REG_1, undefined, neq));
  }

  private ifname(key: number): void {
    const name = quoted(this.next());
    const wildcard = name.endsWith("*");
    const base = wildcard ? name.slice(0, -1) : name;
    if (!/^[A-Za-z0-9_.:@-]+$/.test(base) || base.length >= IFNAMSIZ) throw unsupported(`interface ${name}`);
    this.out.push(X.metaLoad(key));
    const value = wildcard
      ? Buffer.from(base)
      : Buffer.concat([Buffer.from(base), Buffer.alloc(IFNAMSIZ - base.length)]);
    this.out.push(X.cmp(X.CmpOp.eq, value));
  }

  /** Inserts `meta l4proto <p>` unless an earlier match fixed it (nft's protocol dependency). */
  private dependency(proto: number): void {
    if (this.l4 === proto) return;
    this.out.push(X.metaLoad(X.MetaKey.l4proto), X.cmp(X.CmpOp.eq, Buffer.from([proto])));
    this.l4 = proto;
  }

  private meta(): void {
    const key = this.next();
    if (key === "l4proto") {
      const neq = this.negation();
      const name = this.next() ?? "";
      const p = PROTOCOLS[name] ?? (/^\d+$/.test(name) ? num(name, 255) : undefined);
      if (p === undefined) throw unsupported(`protocol ${name}`);
      this.out.push(X.metaLoad(X.MetaKey.l4proto), X.cmp(neq ? X.CmpOp.neq : X.CmpOp.eq, Buffer.from([p])));
      if (!neq) this.l4 = p;
      return;
    }
    if (key !== "mark") throw unsupported(`meta ${key}`);
    if (this.peek() === "set") {
      this.setMark();
      return;
    }
    this.out.push(X.metaLoad(X.MetaKey.mark));
    if (this.peek() === "&") {
      this.at++;
      const mask = hexU32(this.next());
      const op = this.next();
      if (op !== "==" && op !== "!=") throw unsupported(`meta mark & … ${op}`);
      this.out.push(X.bitwise(hostU32(mask), hostU32(0)));
      this.out.push(X.cmp(op === "==" ? X.CmpOp.eq : X.CmpOp.neq, hostU32(hexU32(this.next()))));
      return;
    }
    // `meta mark [!=] 0xffff0000/16`: a mask of leading ones.
    const neq = this.negation();
    const m = /^(0x[0-9a-f]{8})\/(\d{1,2})$/.exec(this.next() ?? "");
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 31) throw unsupported("meta mark form");
    const mask = (0xffffffff << (32 - Number(m[2]))) >>> 0;
    this.out.push(X.bitwise(hostU32(mask), hostU32(0)));
    this.out.push(X.cmp(neq ? X.CmpOp.neq : X.CmpOp.eq, hostU32(hexU32(m[1]))));
  }

  /** `meta mark set meta mark [& K] [| V]`: mark = (mark & K) ^ V. */
  private setMark(): void {
    this.expect("set");
    this.expect("meta");
    this.expect("mark");
    let and: number | undefined;
    let or: number | undefined;
    if (this.peek() === "&") {
      this.at++;
      and = hexU32(this.next());
    }
    if (this.peek() === "|") {
      this.at++;
      or = hexU32(this.next());
    }
    if (and === undefined && or === undefined) throw unsupported("meta mark set meta mark");
    // nft lists `& K | V` for mask K & ~V, xor V (`|` once no mask bit is in V).
    const mask = ((and ?? 0xffffffff) & ~(or ?? 0)) >>> 0;
    this.out.push(X.metaLoad(X.MetaKey.mark), X.bitwise(hostU32(mask), hostU32(or ?? 0)), X.metaSet(X.MetaKey.mark));
  }

  private ports(proto: string): void {
    const dir = this.next();
    if (dir !== "dport" && dir !== "sport") throw unsupported(`${proto} ${dir}`);
    if (proto !== "th") this.dependency(PROTOCOLS[proto]);
    const neq = this.negation();
    this.out.push(X.payload(X.PayloadBase.transport, dir === "sport" ? 0 : 2, 2));
    if (this.peek() === "{") {
      const set = this.anonPorts(proto, dir);
      this.out.push(X.lookup(set.name, X.REG_1, set.id, neq));
      return;
    }
    const [a, b] = portRange(this.next());
    if (a === b) this.out.push(X.cmp(neq ? X.CmpOp.neq : X.CmpOp.eq, be16(a)));
    else if (neq) this.out.push(X.range(true, be16(a), be16(b)));
    else this.out.push(X.cmp(X.CmpOp.gte, be16(a)), X.cmp(X.CmpOp.lte, be16(b)));
  }

  /** `{ 80, 443-450 }` as nft builds it: a constant hash set, an interval set once a range is in it. */
  private anonPorts(proto: string, dir: string) {
    this.expect("{");
    const ranges: [number, number][] = [];
    for (;;) {
      ranges.push(portRange(this.next()));
      const sep = this.next();
      if (sep === "}") break;
      if (sep !== ",") throw unsupported(`${sep} in a port set`);
    }
    const interval = ranges.some(([a, b]) => a !== b);
    const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < sorted.length; i++) {
      // nft would merge touching or overlapping intervals (and list them merged); a duplicate it would refuse.
      if (sorted[i][0] <= sorted[i - 1][1] + (interval ? 1 : 0)) throw unsupported("touching ports in a port set");
    }
    const elements: WireElement[] = [];
    if (!interval) for (const [a] of ranges) elements.push({ key: be16(a) });
    else {
      if (sorted[0][0] !== 0) elements.push({ key: be16(0), flags: 1 });
      for (const [a, b] of sorted) {
        const end = plusOne(be16(b));
        if (end) elements.push({ key: be16(a) }, { key: end, flags: 1 });
        else elements.push({ key: be16(a), udata: UDATA_INTERVAL_OPEN });
      }
    }
    const typeof_ = Buffer.from([3, 20, 0, 4, 7, 0, 0, 0, 1, 12, 0, 4, PROTO_DESC[proto], 0, 0, 0, 1, 4, 0, 0, 0, 0]);
    typeof_[18] = dir === "sport" ? 1 : 2;
    const head = interval ? [0, 4, 2, 0, 0, 0, 2, 4, 1, 0, 0, 0] : [0, 4, 2, 0, 0, 0];
    const udata = Buffer.concat([Buffer.from(head), typeof_]);
    return this.ctx.anonSet({ keyType: 13, keyLen: 2, interval, elements, udata });
  }

  private ct(): void {
    const key = this.next();
    const neg = this.negation("!");
    const v = this.next() ?? "";
    let bits = 0;
    if (key === "state") {
      for (const s of v.split(",")) {
        const b = CT_STATE_BITS[s];
        if (b === undefined) throw unsupported(`ct state ${s}`);
        bits |= b;
      }
    } else if (key === "status" && v === "dnat") bits = IP_DPS_DNAT;
    else throw unsupported(`ct ${key} ${v}`);
    this.out.push(X.ctLoad(key === "state" ? X.CtKey.state : X.CtKey.status));
    this.out.push(X.bitwise(hostU32(bits), hostU32(0)), X.cmp(neg ? X.CmpOp.eq : X.CmpOp.neq, hostU32(0)));
  }

  private fib(): void {
    const F = X.FibFlag;
    const flagOf: Record<string, number> = { saddr: F.saddr, daddr: F.daddr, mark: F.mark, iif: F.iif, oif: F.oif };
    // The key: `saddr`, `saddr . oif`, `saddr . mark . iif`, …
    let flags = 0;
    for (;;) {
      const w = this.next() ?? "";
      if (flagOf[w] === undefined) throw unsupported(`fib key ${w}`);
      flags |= flagOf[w];
      if (this.peek() !== ".") break;
      this.at++;
    }
    const result = this.next();
    if (result === "type") {
      const neq = this.negation();
      if (this.next() !== "local") throw unsupported("fib type other than local");
      this.out.push(X.fib(flags, X.FibResult.addrtype), X.cmp(neq ? X.CmpOp.neq : X.CmpOp.eq, hostU32(RTN_LOCAL)));
      return;
    }
    // `fib saddr . mark . iif oif 0`: no route back through the interface it came in on.
    if (this.next() !== "0") throw unsupported("fib oif other than 0");
    this.out.push(X.fib(flags, X.FibResult.oif), X.cmp(X.CmpOp.eq, hostU32(0)));
  }

  private icmp(proto: "icmp" | "icmpv6"): void {
    if ((proto === "icmpv6") !== this.v6) throw unsupported(`${proto} in the ${this.ctx.family} table`);
    this.expect("type");
    const [types, codes] = proto === "icmp" ? [ICMP_TYPES, ICMP_CODES] : [ICMPV6_TYPES, ICMPV6_CODES];
    if (this.peek() === ".") {
      this.typeCodeSet(proto, types, codes);
      return;
    }
    const neq = this.negation();
    const type = named(this.next(), types);
    this.dependency(proto === "icmp" ? 1 : 58);
    if (!neq && this.peek() === proto && this.peek(1) === "code") {
      // nft merges a type and the code after it into one two-byte match.
      this.at += 2;
      const code = named(this.next(), codes);
      this.out.push(X.payload(X.PayloadBase.transport, 0, 2), X.cmp(X.CmpOp.eq, Buffer.from([type, code])));
      return;
    }
    this.out.push(X.payload(X.PayloadBase.transport, 0, 1));
    this.out.push(X.cmp(neq ? X.CmpOp.neq : X.CmpOp.eq, Buffer.from([type])));
  }

  /** `icmp type . icmp code [!=] { t . c, … }`: a constant set of two-field keys. */
  private typeCodeSet(proto: "icmp" | "icmpv6", types: Names, codes: Names): void {
    this.expect(".");
    this.expect(proto);
    this.expect("code");
    const neq = this.negation();
    this.expect("{");
    const elements: WireElement[] = [];
    for (;;) {
      const key = Buffer.alloc(8);
      key[0] = named(this.next(), types);
      this.expect(".");
      key[4] = named(this.next(), codes);
      elements.push({ key });
      const sep = this.next();
      if (sep === "}") break;
      if (sep !== ",") throw unsupported(`${sep} in a type . code set`);
    }
    const desc = proto === "icmp" ? 4 : 14;
    const field = (n: number) => [1, 20, 0, 4, 7, 0, 0, 0, 1, 12, 0, 4, desc, 0, 0, 0, 1, 4, n, 0, 0, 0];
    const udata = Buffer.from([0, 4, 0, 0, 0, 0, 3, 52, 0, 4, 13, 0, 0, 0, 1, 44, ...field(1), ...field(2)]);
    const keyType = proto === "icmp" ? (14 << 6) | 32 : (29 << 6) | 33;
    const set = this.ctx.anonSet({ keyType, keyLen: 8, interval: false, elements, udata });
    this.dependency(proto === "icmp" ? 1 : 58);
    this.out.push(X.payload(X.PayloadBase.transport, 0, 1), X.payload(X.PayloadBase.transport, 1, 1, X.reg32(1)));
    this.out.push(X.lookup(set.name, X.REG_1, set.id, neq));
  }

  private nat(kind: "masquerade" | "snat" | "dnat"): void {
    let addr: Buffer | undefined;
    let ports: [number, number] | undefined;
    if (this.peek() === "to") {
      this.at++;
      const to = this.next() ?? "";
      const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]*))(?::(\d+(?:-\d+)?))?$/.exec(to);
      if (!m) throw unsupported(`nat target ${to}`);
      const host = m[1] ?? m[2];
      if (host) addr = parseCidr(host, this.v6)[0];
      if (m[3]) ports = portRange(m[3]);
      if ((kind === "masquerade") !== (host === "") || (m[1] !== undefined) !== (this.v6 && !!host)) {
        throw unsupported(`nat target ${to}`);
      }
    } else if (kind !== "masquerade") throw unsupported(`${kind} without a target`);
    let flags = 0;
    if (this.peek() === "fully-random") {
      this.at++;
      flags |= X.NatFlag.randomFully;
    }
    if (ports) flags |= X.NatFlag.protoSpecified;
    // Values in registers: the address in the first, ports in the next ones (16 bytes apart, as nft does).
    let reg = X.REG_1;
    let addrReg: number | undefined;
    if (addr) {
      this.out.push(X.immediateData(addr, reg));
      addrReg = reg++;
    }
    let protoMin: number | undefined;
    let protoMax: number | undefined;
    if (ports) {
      this.out.push(X.immediateData(be16(ports[0]), reg));
      protoMin = reg++;
      if (ports[1] !== ports[0]) {
        this.out.push(X.immediateData(be16(ports[1]), reg));
        protoMax = reg++;
      }
    }
    if (kind === "masquerade") this.out.push(X.masq(flags, protoMin, protoMax));
    else
      this.out.push(
        X.nat(kind === "dnat", NFPROTO[this.ctx.family], { addrMin: addrReg as number, protoMin, protoMax }, flags),
      );
  }

  private log(): void {
    this.expect("prefix");
    const prefix = quoted(this.next());
    if (Buffer.byteLength(prefix) > 127) throw unsupported("log prefix longer than 127 bytes");
    const what = this.next();
    if (what === "group") this.out.push(X.logGroup(prefix, num(this.next(), 0xffff)));
    else if (what === "level" && this.next() === "notice") this.out.push(X.logLevel(prefix, 5));
    else throw unsupported(`log … ${what}`);
  }

  private comment(): void {
    const c = quoted(this.next());
    const bytes = Buffer.from(`${c}\0`);
    if (bytes.length - 1 > COMMENT_MAX) throw unsupported(`comment of ${bytes.length - 1} bytes`);
    // NFTNL_UDATA_RULE_COMMENT: type 0, length with the NUL.
    this.userdata = Buffer.concat([Buffer.from([0, bytes.length]), bytes]);
    if (this.at !== this.toks.length) throw unsupported("statements after the comment");
  }
}

type Names = Readonly<Record<number, string>>;

function named(t: string | undefined, names: Names): number {
  for (const [k, v] of Object.entries(names)) if (v === t) return Number(k);
  return num(t, 255);
}

function portRange(t: string | undefined): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(t ?? "");
  if (!m) throw unsupported(`port ${JSON.stringify(t)}`);
  const a = num(m[1], 65535);
  const b = m[2] === undefined ? a : num(m[2], 65535);
  if (b <= a && m[2] !== undefined) throw unsupported(`port range ${t}`);
  return [a, b];
}

/** An address or prefix of the table's family: its bytes (host bits must be zero) and prefix length. */
function parseCidr(t: string | undefined, v6: boolean): [Buffer, number] {
  const [ip, len, extra] = (t ?? "").split("/");
  let bytes: number[];
  if (!v6) {
    const parts = ip.split(".");
    if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255))
      throw unsupported(`address ${t}`);
    bytes = parts.map(Number);
  } else {
    bytes = parseV6(ip, t);
  }
  const full = bytes.length * 8;
  const bits = len === undefined ? full : num(len, full);
  if (extra !== undefined) throw unsupported(`address ${t}`);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    if (bytes[i] & ~((0xff << (8 - keep)) & 0xff) & 0xff) throw unsupported(`address ${t} has host bits`);
  }
  return [Buffer.from(bytes), bits];
}

function parseV6(ip: string, t: string | undefined): number[] {
  if (!/^[0-9a-fA-F:]+$/.test(ip) || ip.split("::").length > 2) throw unsupported(`address ${t}`);
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const h = groups(head);
  const tl = tail === undefined ? [] : groups(tail);
  const fill = 8 - h.length - tl.length;
  if ((tail === undefined && fill !== 0) || (tail !== undefined && fill < 1)) throw unsupported(`address ${t}`);
  const all = [...h, ...Array(tail === undefined ? 0 : fill).fill("0"), ...tl];
  const out: number[] = [];
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw unsupported(`address ${t}`);
    const n = Number.parseInt(g, 16);
    out.push(n >> 8, n & 0xff);
  }
  return out;
}

export function compileRule(text: string, ctx: CompileContext): CompiledRule {
  return new Compiler(tokenize(text), ctx).compile();
}
