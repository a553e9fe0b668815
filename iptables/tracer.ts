// A packet tracer over rendered iptables rules (kube-proxy's test tracer, in
// spirit): follows the first packet of a connection through the rule text we
// render, interpreting the matches we use, and returns every way it can go.
//
// Matches: -s/-d (with !), -p, -i/-o (only against a given interface),
// -m tcp|udp|sctp --dport/--sport, -m multiport [!] --dports/--sports (lists
// and ranges), -m set [!] --match-set N src|dst (hash:net and hash:ip
// members) or dst,dst (hash:ip,port members `ip,proto:port`), -m mark [!]
// --mark v/m, -m addrtype [!] --src-type/--dst-type LOCAL [--limit-iface-out,
// taken as any interface], -m conntrack [!] --ctstate (the packet is NEW, and
// DNAT when the packet says it was DNATed),
// -m comment (ignored).
// Branches: -m statistic --mode random --probability p (both ways, weighted),
// -m recent --rcheck (both ways: a returning client with an affinity entry, or
// not); -m recent --set is noted. Targets: -j/-g chains, RETURN, ACCEPT, DROP,
// REJECT, DNAT --to-destination, MARK --set-xmark, MASQUERADE, NOTRACK (goes
// on); a rule with no target only counts. Anything else is reported as unsupported, never guessed.

import { type Parsed, parseRule, type State, UnsupportedRule } from "./tracer-rule.js";

export interface TraceTable {
  /** Chain → rule texts (as iptables-save prints them, without `-A <chain>`). */
  readonly chains: Readonly<Record<string, readonly string[]>>;
}

export interface TracePacket {
  readonly src: string;
  readonly dst: string;
  readonly dport: number;
  readonly sport?: number;
  readonly protocol: "tcp" | "udp" | "sctp";
  readonly mark?: number;
  readonly inIface?: string;
  readonly outIface?: string;
  /** nat DNATed this connection (conntrack's DNAT state, seen by filter rules). */
  readonly dnated?: boolean;
}

export interface TraceEnv {
  /** This node's addresses (addrtype LOCAL). */
  readonly localAddresses: readonly string[];
  /** IP set name → members (IPs or CIDRs). */
  readonly ipsets: Readonly<Record<string, Iterable<string>>>;
}

export type Verdict = "continue" | "accept" | "drop" | "reject" | "dnat" | "masquerade";

export interface TraceOutcome {
  readonly packet: TracePacket;
  /** Share of new connections taking this path (statistic branches multiplied). */
  readonly probability: number;
  /** Conditions this path depends on besides probability (e.g. affinity entries). */
  readonly conditions: readonly string[];
  readonly verdict: Verdict;
  /** The packet mark on the way out. */
  readonly mark: number;
  /** `chain#rule` steps that matched, in order. */
  readonly path: readonly string[];
  /** Comments of the rules that matched (the kube-proxy-style explanations). */
  readonly comments: readonly string[];
  /** DNAT target, when verdict is dnat. */
  readonly dnat?: { readonly ip: string; readonly port: number };
}

const clone = (s: State): State => ({
  ...s,
  conditions: [...s.conditions],
  path: [...s.path],
  comments: [...s.comments],
});

export class Tracer {
  private readonly parsed = new Map<string, Parsed>();

  constructor(
    private readonly table: TraceTable,
    private readonly env: TraceEnv,
  ) {}

  /** Every way the packet can leave `chain` (a built-in chain's rules, or any chain). */
  trace(chain: string, pkt: TracePacket): TraceOutcome[] {
    const start: State = {
      pkt,
      mark: pkt.mark ?? 0,
      probability: 1,
      conditions: [],
      path: [],
      comments: [],
    };
    return this.walk(chain, [start], 0).map(({ s, verdict }) => ({
      packet: s.pkt,
      probability: s.probability,
      conditions: s.conditions,
      verdict,
      mark: s.mark,
      path: s.path,
      comments: s.comments,
      ...(verdict === "dnat" ? { dnat: { ip: s.pkt.dst, port: s.pkt.dport } } : {}),
    }));
  }

  private rule(text: string): Parsed {
    let p = this.parsed.get(text);
    if (!p) {
      p = parseRule(text, this.env);
      this.parsed.set(text, p);
    }
    return p;
  }

  /** Runs states through a chain; "continue" = fell off the end or RETURNed. */
  private walk(chain: string, states: State[], depth: number): { s: State; verdict: Verdict }[] {
    if (depth > 50) throw new UnsupportedRule(`chain depth over 50 at ${chain}: a loop?`);
    const rules = this.table.chains[chain] ?? [];
    const done: { s: State; verdict: Verdict }[] = [];
    let live = states;
    for (const [idx, text] of rules.entries()) {
      if (live.length === 0) break;
      const r = this.rule(text);
      const matched: State[] = [];
      const rest: State[] = [];
      for (const s of live) {
        if (!r.checks.every((c) => c(s))) {
          rest.push(s);
          continue;
        }
        let yes = [s];
        if (r.rcheck !== undefined) {
          const y = clone(s);
          y.conditions.push(`the client has an affinity entry in ${r.rcheck}`);
          s.conditions.push(`no affinity entry in ${r.rcheck}`);
          rest.push(s);
          yes = [y];
        }
        if (r.statistic !== undefined) {
          const n = clone(yes[0]);
          n.probability *= 1 - r.statistic;
          yes[0].probability *= r.statistic;
          rest.push(n);
        }
        matched.push(...yes);
      }
      live = rest;
      for (const s of matched) {
        s.path.push(`${chain}#${idx + 1}`);
        if (r.comment) s.comments.push(r.comment);
        if (r.recentSet) s.conditions.push(`records the client in ${r.recentSet}`);
      }
      const [kind, name, ...args] = r.target;
      if (!kind) {
        live.push(...matched);
        continue;
      }
      switch (name) {
        case "RETURN":
          done.push(...matched.map((s) => ({ s, verdict: "continue" as const })));
          break;
        case "ACCEPT":
          done.push(...matched.map((s) => ({ s, verdict: "accept" as const })));
          break;
        case "DROP":
          done.push(...matched.map((s) => ({ s, verdict: "drop" as const })));
          break;
        case "REJECT":
          done.push(...matched.map((s) => ({ s, verdict: "reject" as const })));
          break;
        case "MASQUERADE":
          done.push(...matched.map((s) => ({ s, verdict: "masquerade" as const })));
          break;
        case "DNAT": {
          const to = args[args.indexOf("--to-destination") + 1];
          const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(to);
          if (!m) throw new UnsupportedRule(`DNAT target ${to}`);
          for (const s of matched) {
            s.pkt = { ...s.pkt, dst: m[1], dport: Number(m[2]) };
            done.push({ s, verdict: "dnat" });
          }
          break;
        }
        case "MARK": {
          const [v, m] = args[args.indexOf("--set-xmark") + 1].split("/").map(Number);
          for (const s of matched) s.mark = ((s.mark & ~m) ^ v) >>> 0;
          live.push(...matched);
          break;
        }
        case "NOTRACK":
        case "LOG":
        case "NFLOG":
          live.push(...matched);
          break;
        default: {
          if (!this.table.chains[name] && !name.startsWith("cali-")) {
            throw new UnsupportedRule(`target ${name}`);
          }
          const out = this.walk(name, matched, depth + 1);
          for (const o of out) {
            // A jump that falls through continues here; a goto returns to our caller.
            if (o.verdict === "continue" && kind === "-j") live.push(o.s);
            else done.push(o);
          }
        }
      }
    }
    done.push(...live.map((s) => ({ s, verdict: "continue" as const })));
    return done;
  }
}
