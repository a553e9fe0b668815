// The rule model: a match, an action and an optional comment, rendered in the
// order iptables-save prints them, so what we write reads like what we read.

/** Rendered match: `basic` (-s -d -i -o -p) precede comments, `rest` follow. */
export interface Match {
  readonly basic: string;
  readonly rest: string;
}

export interface Rule {
  readonly match: Match;
  /** Target text, e.g. `-j ACCEPT`, `-g cali-fw-x`, `-j MARK --set-xmark 0x0/0x30000`. */
  readonly action: string;
  readonly comment?: string;
}

export interface Chain {
  readonly name: string;
  readonly rules: readonly Rule[];
}

export const NO_MATCH: Match = { basic: "", rest: "" };

/** Builds a Match; call order within `rest` is kept, `basic` is canonical. */
export class MatchBuilder {
  private src = "";
  private dst = "";
  private inIf = "";
  private outIf = "";
  private proto = "";
  private readonly rest: string[] = [];

  sourceNet(cidr: string, negate = false): this {
    this.src = `${negate ? "! " : ""}-s ${cidr}`;
    return this;
  }
  destNet(cidr: string, negate = false): this {
    this.dst = `${negate ? "! " : ""}-d ${cidr}`;
    return this;
  }
  inInterface(iface: string): this {
    this.inIf = `-i ${iface}`;
    return this;
  }
  outInterface(iface: string): this {
    this.outIf = `-o ${iface}`;
    return this;
  }
  protocol(p: string): this {
    this.proto = `-p ${p}`;
    return this;
  }
  /** `src`, `dst`, or `dst,dst` for an ip,port set. */
  ipSet(name: string, flags: string, negate = false): this {
    this.rest.push(`-m set ${negate ? "! " : ""}--match-set ${name} ${flags}`);
    return this;
  }
  destPorts(ports: string): this {
    this.rest.push(`-m multiport --dports ${ports}`);
    return this;
  }
  sourcePorts(ports: string): this {
    this.rest.push(`-m multiport --sports ${ports}`);
    return this;
  }
  mark(mark: number, mask: number): this {
    this.rest.push(`-m mark --mark ${hex(mark)}/${hex(mask)}`);
    return this;
  }
  /** `-m addrtype --src-type LOCAL` and the like. */
  addrType(which: "src" | "dst", type: "LOCAL", negate = false): this {
    this.rest.push(`-m addrtype ${negate ? "! " : ""}--${which}-type ${type}`);
    return this;
  }
  ctState(states: string, negate = false): this {
    this.rest.push(`-m conntrack ${negate ? "! " : ""}--ctstate ${states}`);
    return this;
  }
  raw(fragment: string): this {
    this.rest.push(fragment);
    return this;
  }
  build(): Match {
    return {
      basic: [this.src, this.dst, this.inIf, this.outIf, this.proto].filter(Boolean).join(" "),
      rest: this.rest.join(" "),
    };
  }
}

export const match = () => new MatchBuilder();

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

export const Actions = {
  accept: "-j ACCEPT",
  drop: "-j DROP",
  return: "-j RETURN",
  jump: (chain: string) => `-j ${chain}`,
  goto: (chain: string) => `-g ${chain}`,
  setMark: (mark: number) => `-j MARK --set-xmark ${hex(mark)}/${hex(mark)}`,
  clearMark: (mask: number) => `-j MARK --set-xmark 0x0/${hex(mask)}`,
  /** raw table: the packet (and its replies) skip connection tracking. */
  noTrack: "-j NOTRACK",
  /** Sets `mark` within `mask` (other bits of the mask cleared). */
  setMaskedMark: (mark: number, mask: number) => `-j MARK --set-xmark ${hex(mark)}/${hex(mask)}`,
} as const;

export function rule(m: Match, action: string, comment?: string): Rule {
  return comment === undefined ? { match: m, action } : { match: m, action, comment };
}
