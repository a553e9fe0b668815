// The backend-neutral rule model: a rule is typed matches, a typed action and
// an optional comment. The calc graph builds rules with `match()…build()`,
// `rule(m, action, comment)` and `Actions.*`; iptables/ and nftables/ each
// render them (a RuleRenderer), so no backend syntax is written here.

import type { NatShard } from "./nat-shards.js";

/** Ports as Calico writes them: a single port is `first === last`. */
export interface PortRange {
  readonly first: number;
  readonly last: number;
}

/** The ipset `--match-set` flags we use: one per dimension of the set's type. */
export type IpSetDirection = "src" | "dst" | "dst,dst" | "dst,dst,src";

/** Conntrack states; DNAT is iptables' virtual state "the connection was destination-NATed". */
export type CtState = "INVALID" | "NEW" | "RELATED" | "ESTABLISHED" | "UNTRACKED" | "DNAT";

/** A transport protocol with ports (what `-m <proto> --dport` accepts). */
export type PortProtocol = "tcp" | "udp" | "sctp" | "udplite" | "dccp";

/** Matches after the basic ones (source/dest, interfaces, protocol), in the order they were added. */
export type MatchTerm =
  | { readonly kind: "ipSet"; readonly name: string; readonly dir: IpSetDirection; readonly negate: boolean }
  | {
      readonly kind: "multiport";
      readonly dir: "src" | "dst";
      readonly ports: readonly PortRange[];
      /** Not one of these ports (Calico's notPorts). */
      readonly negate: boolean;
    }
  | { readonly kind: "port"; readonly proto: PortProtocol; readonly dir: "src" | "dst"; readonly port: number }
  | { readonly kind: "mark"; readonly mark: number; readonly mask: number; readonly negate: boolean }
  | { readonly kind: "ctState"; readonly states: readonly CtState[]; readonly negate: boolean }
  /** The connection was (or with `negate`, was not) destination-NATed (iptables' virtual state DNAT). */
  | { readonly kind: "ctStatus"; readonly status: "DNAT"; readonly negate: boolean }
  | {
      readonly kind: "addrType";
      readonly dir: "src" | "dst";
      readonly type: "LOCAL";
      readonly negate: boolean;
      /** Look the address up on the outgoing interface only (`--limit-iface-out`). */
      readonly limitIfaceOut: boolean;
    }
  | { readonly kind: "icmpv6Type"; readonly type: number }
  /** Calico's icmp / notICMP: an ICMP (family 4) or ICMPv6 (6) type, optionally with its code. */
  | {
      readonly kind: "icmpType";
      readonly family: 4 | 6;
      readonly type: number;
      readonly code: number | undefined;
      readonly negate: boolean;
    }
  /** True for one packet in `oneOf` at random (kube-proxy's endpoint choice). */
  | { readonly kind: "random"; readonly oneOf: number }
  /** xt_recent: remember the source in list `name`, or check it was seen within `seconds` (session affinity). */
  | {
      readonly kind: "recent";
      readonly op: "set" | "rcheck";
      readonly name: string;
      readonly seconds?: number;
      readonly family: 4 | 6;
    }
  /** The source fails the reverse-path check (route lookup with the packet's mark). */
  | { readonly kind: "rpfFailed" };

export interface NetMatch {
  readonly cidr: string;
  readonly negate: boolean;
}

export interface Match {
  readonly src?: NetMatch;
  readonly dst?: NetMatch;
  /** Interface name; a trailing `+` is a prefix wildcard (`cali+`). */
  readonly inIface?: string;
  readonly outIface?: string;
  /** Protocol name (`tcp`, `ipv6-icmp`, `ipencap`) or number as text. */
  readonly protocol?: string;
  /** Any protocol but `protocol` (Calico's notProtocol). */
  readonly protocolNegate?: boolean;
  readonly terms: readonly MatchTerm[];
}

export type Verdict = "ACCEPT" | "DROP" | "RETURN";

export type Action =
  | { readonly kind: "verdict"; readonly verdict: Verdict }
  | { readonly kind: "jump"; readonly chain: string }
  | { readonly kind: "goto"; readonly chain: string }
  /** mark := (mark & ~mask) | value; value lies within mask. */
  | { readonly kind: "setMark"; readonly value: number; readonly mask: number }
  | { readonly kind: "reject"; readonly with: "icmp-port-unreachable" | "icmp6-port-unreachable" }
  | { readonly kind: "masquerade"; readonly toPorts?: PortRange; readonly randomFully: boolean }
  | {
      readonly kind: "snat";
      readonly toAddress: string;
      readonly toPorts?: PortRange;
      readonly randomFully: boolean;
    }
  | { readonly kind: "dnat"; readonly toAddress: string; readonly toPort: number }
  | { readonly kind: "notrack" }
  /** Kernel log at level 5 (notice), as Felix logs Calico's Log rules; evaluation goes on. */
  | { readonly kind: "log"; readonly prefix: string }
  /** Copy to netlink log group `group` with `prefix` (the drop reports' origin); evaluation goes on. */
  | { readonly kind: "nflog"; readonly group: number; readonly prefix: string }
  /** No target: the rule only counts (and carries its comment). */
  | { readonly kind: "none" }
  /**
   * nft only (kube-proxy's nftables layout): look the packet up in verdict map
   * `map` of our table by destination address, protocol and port
   * (`daddr.proto.dport`) or by protocol and port (`proto.dport`), and take the
   * element's verdict; no element: evaluation goes on.
   */
  | { readonly kind: "vmap"; readonly key: VmapKey; readonly map: string }
  /** nft only: go to one of `chains` at random, each with the same chance (`numgen random mod N vmap`). */
  | { readonly kind: "randomGoto"; readonly chains: readonly string[] }
  /** nft only: add the source address to dynamic set `set` (or refresh its timeout); evaluation goes on. */
  | { readonly kind: "setUpdate"; readonly set: string };

/** What a verdict map is keyed on (VerdictMapState.key): destination address, protocol, port; or protocol, port. */
export type VmapKey = "daddr.proto.dport" | "proto.dport";

export interface Rule {
  readonly match: Match;
  readonly action: Action;
  readonly comment?: string;
  /** nft: no `counter` before the action (kube-proxy's nftables layout renders none; Felix's rules all count). */
  readonly uncounted?: true;
}

export interface Chain {
  readonly name: string;
  readonly rules: readonly Rule[];
  /** The nat table it goes to where the dataplane shards nat (model/nat-shards.ts); absent: the first. */
  readonly natShard?: NatShard;
  /**
   * One rule id for the chain (where the renderer allows it: iptables): the first rule's
   * `cali:<hash>` covers every rule, the others carry no comment (kube-proxy's large cluster
   * mode: calc-graph/rules/services.ts).
   */
  readonly oneId?: boolean;
}

export const NO_MATCH: Match = Object.freeze({
  src: undefined,
  dst: undefined,
  inIface: undefined,
  outIface: undefined,
  protocol: undefined,
  protocolNegate: undefined,
  terms: Object.freeze([]) as readonly MatchTerm[],
});

const CT_STATES: readonly string[] = ["INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "DNAT"];

/** Builds a Match; call order of the terms is kept, the basic matches are canonical. */
export class MatchBuilder {
  private src?: NetMatch;
  private dst?: NetMatch;
  private inIf?: string;
  private outIf?: string;
  private proto?: string;
  private protoNegate?: boolean;
  private readonly terms: MatchTerm[] = [];

  sourceNet(cidr: string, negate = false): this {
    this.src = { cidr, negate };
    return this;
  }
  destNet(cidr: string, negate = false): this {
    this.dst = { cidr, negate };
    return this;
  }
  inInterface(iface: string): this {
    this.inIf = iface;
    return this;
  }
  outInterface(iface: string): this {
    this.outIf = iface;
    return this;
  }
  protocol(p: string, negate = false): this {
    this.proto = p;
    this.protoNegate = negate || undefined;
    return this;
  }
  /** `src`, `dst`, `dst,dst` for an ip,port set, `dst,dst,src` for ip,port,ip. */
  ipSet(name: string, dir: IpSetDirection, negate = false): this {
    return this.add({ kind: "ipSet", name, dir, negate });
  }
  /** Destination ports: a list of ranges, or multiport text (`80,8000:8080`). */
  destPorts(ports: string | readonly PortRange[], negate = false): this {
    const list = typeof ports === "string" ? parsePorts(ports) : ports;
    return this.add({ kind: "multiport", dir: "dst", ports: list, negate });
  }
  /** Source ports: a list of ranges, or multiport text. */
  sourcePorts(ports: string | readonly PortRange[], negate = false): this {
    const list = typeof ports === "string" ? parsePorts(ports) : ports;
    return this.add({ kind: "multiport", dir: "src", ports: list, negate });
  }
  /** One destination port of `proto` (which the rule's protocol must match). */
  destPort(proto: PortProtocol, port: number): this {
    return this.add({ kind: "port", proto, dir: "dst", port: checkPort(port) });
  }
  mark(mark: number, mask: number, negate = false): this {
    return this.add({ kind: "mark", mark, mask, negate });
  }
  /** Conntrack states, as a list or as iptables' comma-separated text; `negate`: in none of them. */
  ctState(states: string | readonly CtState[], negate = false): this {
    const list = typeof states === "string" ? states.split(",") : states;
    for (const s of list) if (!CT_STATES.includes(s)) throw new Error(`unknown conntrack state ${JSON.stringify(s)}`);
    return this.add({ kind: "ctState", states: list as CtState[], negate });
  }
  /** The connection was (or with `negate`, was not) destination-NATed. */
  ctDnat(negate = false): this {
    return this.add({ kind: "ctStatus", status: "DNAT", negate });
  }
  /** The source address is (or with `negate`, is not) local; `limitIfaceOut` looks only at the outgoing interface. */
  srcAddrTypeLocal(negate = false, limitIfaceOut = false): this {
    return this.add({ kind: "addrType", dir: "src", type: "LOCAL", negate, limitIfaceOut });
  }
  /** The destination address is (or with `negate`, is not) one of this host's. */
  destAddrTypeLocal(negate = false): this {
    return this.add({ kind: "addrType", dir: "dst", type: "LOCAL", negate, limitIfaceOut: false });
  }
  icmpv6Type(type: number): this {
    return this.add({ kind: "icmpv6Type", type });
  }
  /** ICMP (family 4) or ICMPv6 (6) type, optionally with its code; the rule's protocol must be the family's ICMP. */
  icmpType(family: 4 | 6, type: number, code?: number, negate = false): this {
    return this.add({ kind: "icmpType", family, type, code, negate });
  }
  /** Matches one packet in `n` at random. */
  randomOneOf(n: number): this {
    if (!Number.isInteger(n) || n < 1) throw new Error(`randomOneOf: ${n} is not a positive integer`);
    return this.add({ kind: "random", oneOf: n });
  }
  /** Session affinity: the source address was recorded in `name` within `seconds`. */
  recentCheck(name: string, seconds: number, family: 4 | 6): this {
    return this.add({ kind: "recent", op: "rcheck", name, seconds, family });
  }
  /** Session affinity: record the source address in `name`. */
  recentSet(name: string, family: 4 | 6): this {
    return this.add({ kind: "recent", op: "set", name, family });
  }
  /** The source fails the reverse-path check. */
  rpfFailed(): this {
    return this.add({ kind: "rpfFailed" });
  }
  build(): Match {
    // One object shape for every match (absent parts undefined): the renderers' reads stay monomorphic.
    return {
      src: this.src,
      dst: this.dst,
      inIface: this.inIf,
      outIface: this.outIf,
      protocol: this.proto,
      protocolNegate: this.protoNegate,
      terms: this.terms.length ? this.terms : NO_MATCH.terms,
    };
  }
  private add(t: MatchTerm): this {
    this.terms.push(t);
    return this;
  }
}

export const match = () => new MatchBuilder();

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function checkPort(p: number): number {
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`bad port ${p}`);
  return p;
}

/** `80,8000:8080` → ranges; throws on anything else. */
export function parsePorts(text: string): PortRange[] {
  return text.split(",").map((part) => {
    const m = /^(\d+)(?::(\d+))?$/.exec(part);
    if (!m) throw new Error(`bad port list ${JSON.stringify(text)}`);
    const first = checkPort(Number(m[1]));
    return { first, last: m[2] === undefined ? first : checkPort(Number(m[2])) };
  });
}

const ACCEPT: Action = Object.freeze({ kind: "verdict", verdict: "ACCEPT" });
const DROP: Action = Object.freeze({ kind: "verdict", verdict: "DROP" });
const RETURN: Action = Object.freeze({ kind: "verdict", verdict: "RETURN" });
const VERDICTS: Readonly<Record<Verdict, Action>> = { ACCEPT, DROP, RETURN };

export const Actions = {
  accept: ACCEPT,
  drop: DROP,
  return: RETURN,
  /** ACCEPT, DROP or RETURN by name (a configured action). */
  verdict: (v: Verdict): Action => VERDICTS[v],
  jump: (chain: string): Action => ({ kind: "jump", chain }),
  goto: (chain: string): Action => ({ kind: "goto", chain }),
  setMark: (mark: number): Action => ({ kind: "setMark", value: mark, mask: mark }),
  clearMark: (mask: number): Action => ({ kind: "setMark", value: 0, mask }),
  /** Sets `mark` within `mask` (other bits of the mask cleared). */
  setMaskedMark: (mark: number, mask: number): Action => ({ kind: "setMark", value: mark, mask }),
  /** The kernel's default ICMP port-unreachable of the family. */
  reject: (v: 4 | 6): Action => ({
    kind: "reject",
    with: v === 4 ? "icmp-port-unreachable" : "icmp6-port-unreachable",
  }),
  masquerade: (o: { toPorts?: PortRange; randomFully?: boolean } = {}): Action =>
    o.toPorts
      ? { kind: "masquerade", toPorts: o.toPorts, randomFully: o.randomFully ?? false }
      : { kind: "masquerade", randomFully: o.randomFully ?? false },
  snat: (toAddress: string, o: { toPorts?: PortRange; randomFully?: boolean } = {}): Action =>
    o.toPorts
      ? { kind: "snat", toAddress, toPorts: o.toPorts, randomFully: o.randomFully ?? false }
      : { kind: "snat", toAddress, randomFully: o.randomFully ?? false },
  dnat: (toAddress: string, toPort: number): Action => ({ kind: "dnat", toAddress, toPort: checkPort(toPort) }),
  notrack: Object.freeze({ kind: "notrack" }) as Action,
  /** `prefix` must be checked safe where it is configured (config/parse.ts logPrefix). */
  log: (prefix: string): Action => ({ kind: "log", prefix }),
  /** `prefix`: at most 63 characters of the drop-origin alphabet (rules/drop-log.ts builds them). */
  nflog: (group: number, prefix: string): Action => ({ kind: "nflog", group, prefix }),
  none: Object.freeze({ kind: "none" }) as Action,
  /** nft only: the verdict of map `map`'s element for the packet's key. */
  vmap: (key: VmapKey, map: string): Action => ({ kind: "vmap", key, map }),
  /** nft only: goto one of `chains`, chosen uniformly at random. */
  randomGoto: (chains: readonly string[]): Action => {
    if (chains.length === 0) throw new Error("randomGoto: no chains");
    return { kind: "randomGoto", chains };
  },
  /** nft only: record the source address in dynamic set `set`. */
  setUpdate: (set: string): Action => ({ kind: "setUpdate", set }),
} as const;

export function rule(m: Match, action: Action, comment?: string): Rule {
  return comment === undefined ? { match: m, action } : { match: m, action, comment };
}

/** A rule of kube-proxy's nftables layout (FELIX_PROXYMODE=nftables): rendered without a `counter`, as kube-proxy's. */
export function uncountedRule(m: Match, action: Action, comment?: string): Rule {
  return { ...rule(m, action, comment), uncounted: true };
}
