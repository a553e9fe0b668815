// Our rule statements (render.ts's forms, exactly as `nft list` prints them)
// compiled to the expressions nft 1.0.6 sends for them: `nft --debug=netlink`
// of the same text lists the same bytecode (test/nftables/netlink-kernel.test.ts
// compares both for every golden rule). The grammar is ours and small; a form
// it does not know throws NetlinkUnsupported and the transaction goes through
// `nft -f` instead, so nothing is ever written as something else.

import { ICMP_CODES, ICMP_TYPES, ICMPV6_CODES, ICMPV6_TYPES } from "../render.js";
import type { Attr } from "./codec.js";
import type { WireElement } from "./elements.js";
import * as X from "./exprs.js";
import { chainName, commentStatement, logStatement, natStatement, numgenMap, updateStatement } from "./rule-actions.js";
import { type CompileContext, type CompiledRule, RuleStream } from "./rule-stream.js";
import {
  be16,
  CT_STATE_BITS,
  hexU32,
  hostU32,
  IFNAMSIZ,
  IP_DPS_DNAT,
  type Names,
  named,
  num,
  PROTO_DESC,
  PROTOCOLS,
  parseCidr,
  portRange,
  portSetDef,
  quoted,
  RTN_LOCAL,
  setName,
  typeCodeSetDef,
  unsupported,
} from "./rule-values.js";
import { tokenize } from "./tokens.js";

export type { AnonSetDef } from "./rule-values.js";
export type { CompileContext, CompiledRule };

class Compiler extends RuleStream {
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
        if (this.peek() === "vmap") numgenMap(this);
        else this.out.push(X.cmp(X.CmpOp.eq, hostU32(num(this.next(), 0xffffffff))));
        return;
      case "update":
        updateStatement(this);
        return;
      case "accept":
      case "drop":
      case "return":
        this.out.push(X.verdict(X.Verdict[t]));
        return;
      case "jump":
      case "goto":
        this.out.push(X.verdict(X.Verdict[t], chainName(this.next())));
        return;
      case "reject":
        this.out.push(X.reject(this.v6 ? 4 : 3)); // port unreachable
        return;
      case "masquerade":
      case "snat":
      case "dnat":
        natStatement(this, t);
        return;
      case "notrack":
        this.out.push(X.notrack());
        return;
      case "counter":
        this.out.push(X.counter());
        return;
      case "log":
        logStatement(this);
        return;
      case "comment":
        commentStatement(this);
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

  /**
   * `ip daddr . meta l4proto . th dport [. ip saddr] [!=] @set` (or starting at `meta l4proto`):
   * registers side by side, one lookup; `… vmap @map` looks up a verdict.
   */
  private concat(first: string): void {
    const loads: { attr: () => Attr; len: number; proto?: boolean; dep?: number }[] = [];
    const addr = (f: string) => {
      const [off, len] = this.addrField(f);
      loads.push({ attr: () => X.payload(X.PayloadBase.network, off, len, reg), len });
    };
    const l4proto = () => loads.push({ attr: () => X.metaLoad(X.MetaKey.l4proto, reg), len: 1, proto: true });
    let reg = X.REG_1;
    if (first === "l4proto") l4proto();
    else addr(first);
    while (this.peek() === ".") {
      this.at++;
      const t = this.next();
      if (t === "meta" && this.peek() === "l4proto") {
        this.at++;
        l4proto();
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
    const vmap = this.peek() === "vmap";
    if (vmap) this.at++;
    const neq = !vmap && this.negation();
    const name = setName(this.next());
    const key = this.ctx.setKey(name);
    if (!key) throw unsupported(`lookup in set ${name}, which the transaction does not know`);
    if (vmap !== key.type.endsWith(" : verdict")) throw unsupported(`${vmap ? "vmap" : "lookup"} of ${name}`);
    for (const l of loads) if (l.dep !== undefined) this.dependency(l.dep);
    let word = 0;
    for (const l of loads) {
      reg = X.reg32(word);
      this.out.push(l.attr());
      // nft puts an interval concatenation's protocol byte in network order (a no-op the kernel still runs).
      if (l.proto && key.interval) this.out.push(X.byteorderHton(reg, 1, 2));
      word += Math.ceil(l.len / 4);
    }
    this.out.push(vmap ? X.lookupVerdict(name, X.REG_1, undefined) : X.lookup(name, X.REG_1, undefined, neq));
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

  private meta(): void {
    const key = this.next();
    if (key === "l4proto" && this.peek() === ".") {
      this.concat("l4proto");
      return;
    }
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

  /** `{ 80, 443-450 }`: an anonymous set in the same batch. */
  private anonPorts(proto: string, dir: string) {
    this.expect("{");
    const ranges: [number, number][] = [];
    for (;;) {
      ranges.push(portRange(this.next()));
      const sep = this.next();
      if (sep === "}") break;
      if (sep !== ",") throw unsupported(`${sep} in a port set`);
    }
    return this.ctx.anonSet(portSetDef(proto, dir, ranges));
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
    const set = this.ctx.anonSet(typeCodeSetDef(proto, elements));
    this.dependency(proto === "icmp" ? 1 : 58);
    this.out.push(X.payload(X.PayloadBase.transport, 0, 1), X.payload(X.PayloadBase.transport, 1, 1, X.reg32(1)));
    this.out.push(X.lookup(set.name, X.REG_1, set.id, neq));
  }
}

export function compileRule(text: string, ctx: CompileContext): CompiledRule {
  return new Compiler(tokenize(text), ctx).compile();
}
