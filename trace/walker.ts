// Follows a packet through one table's chains of typed rules (model/rule.ts),
// from a built-in chain, the way the kernel runs them: the first rule that
// matches acts; a jump returns to the next rule, a goto to the caller's
// caller; ACCEPT ends the table (the packet goes on to the next hook), DROP
// and REJECT end the packet. A random share or an affinity check splits the
// packet into branches, each carrying its probability or condition.

import type { Action, Rule, VmapKey } from "../model/rule.js";
import type { TableName } from "../model/tables.js";
import { canonical, evalMatch, type NodeEnv, type PacketState } from "./packet.js";

export interface Step {
  readonly node: string;
  readonly table: TableName;
  readonly chain: string;
  /** 1-based position in the chain, as `iptables -L --line-numbers` counts. */
  readonly index: number;
  readonly rule: Rule;
}

export interface Branch {
  readonly pkt: PacketState;
  readonly probability: number;
  readonly conditions: readonly string[];
  readonly steps: readonly Step[];
}

export type TableVerdict = "continue" | "accept" | "drop" | "reject" | "dnat" | "masquerade" | "snat";

export interface TableOutcome extends Branch {
  readonly verdict: TableVerdict;
}

/** A table's chains by name (built-in chains: our hook rules, inserts then appends). */
export type ChainSource = (name: string) => readonly Rule[] | undefined;

export class UntraceableRule extends Error {}

interface Live {
  pkt: PacketState;
  probability: number;
  conditions: string[];
  steps: Step[];
}

const MAX_DEPTH = 50;

/** Every way the packet can leave `chain` of `table`; "continue" = fell off the end of the built-in chain. */
export function walkTable(
  node: string,
  table: TableName,
  chains: ChainSource,
  env: NodeEnv,
  start: Branch,
  chain: string,
): TableOutcome[] {
  const s: Live = {
    pkt: start.pkt,
    probability: start.probability,
    conditions: [...start.conditions],
    steps: [...start.steps],
  };
  return walk({ node, table, chains, env }, chain, [s], 0).map(({ s, verdict }) => ({
    ...s,
    verdict: verdict === "return" ? "continue" : verdict,
  }));
}

interface Ctx {
  readonly node: string;
  readonly table: TableName;
  readonly chains: ChainSource;
  readonly env: NodeEnv;
}

const copy = (s: Live): Live => ({ ...s, conditions: [...s.conditions], steps: [...s.steps] });

function walk(c: Ctx, chain: string, states: Live[], depth: number): { s: Live; verdict: TableVerdict | "return" }[] {
  if (depth > MAX_DEPTH) throw new UntraceableRule(`chain depth over ${MAX_DEPTH} at ${chain}: a loop?`);
  const rules = c.chains(chain) ?? [];
  const done: { s: Live; verdict: TableVerdict | "return" }[] = [];
  let live = states;
  for (const [i, r] of rules.entries()) {
    if (live.length === 0) break;
    const matched: Live[] = [];
    const rest: Live[] = [];
    for (const s of live) {
      const m = evalMatch(r.match, s.pkt, c.env);
      if (m.kind === "no") rest.push(s);
      else if (m.kind === "yes") matched.push(s);
      else if (m.kind === "random") {
        const no = copy(s);
        no.probability *= 1 - 1 / m.oneOf;
        s.probability /= m.oneOf;
        matched.push(s);
        rest.push(no);
      } else {
        const yes = copy(s);
        yes.conditions.push(`the client has an affinity entry in ${m.list}`);
        s.conditions.push(`no affinity entry in ${m.list}`);
        matched.push(yes);
        rest.push(s);
      }
    }
    live = rest;
    if (matched.length === 0) continue;
    for (const s of matched) s.steps.push({ node: c.node, table: c.table, chain, index: i + 1, rule: r });
    const after = act(c, r.action, matched, depth);
    live.push(...after.goOn);
    done.push(...after.done);
  }
  // Fell off the end: a built-in chain's policy (ACCEPT) is the caller's business; ours return.
  done.push(...live.map((s) => ({ s, verdict: "return" as const })));
  return done;
}

function act(
  c: Ctx,
  a: Action,
  matched: Live[],
  depth: number,
): { goOn: Live[]; done: { s: Live; verdict: TableVerdict | "return" }[] } {
  const end = (verdict: TableVerdict | "return") => ({ goOn: [], done: matched.map((s) => ({ s, verdict })) });
  switch (a.kind) {
    case "verdict":
      return end(a.verdict === "ACCEPT" ? "accept" : a.verdict === "DROP" ? "drop" : "return");
    case "reject":
      return end("reject");
    case "masquerade":
      return end("masquerade");
    case "snat":
      return end("snat");
    case "dnat":
      for (const s of matched) s.pkt = { ...s.pkt, dst: a.toAddress, dport: a.toPort, dnated: true };
      return end("dnat");
    case "setMark":
      for (const s of matched) s.pkt = { ...s.pkt, mark: ((s.pkt.mark & ~a.mask) | a.value) >>> 0 };
      return { goOn: matched, done: [] };
    case "notrack":
    case "log":
    case "nflog":
    case "none":
      return { goOn: matched, done: [] };
    case "setUpdate":
      // Records the client in an affinity set: no verdict.
      return { goOn: matched, done: [] };
    case "vmap":
      return vmap(c, a.key, a.map, matched, depth);
    case "randomGoto": {
      // One branch per chain, each with an equal share.
      const goOn: Live[] = [];
      const done: { s: Live; verdict: TableVerdict | "return" }[] = [];
      for (const s of matched) {
        for (const chain of a.chains) {
          const b = copy(s);
          b.probability /= a.chains.length;
          const r = follow(c, "goto", chain, [b], depth);
          goOn.push(...r.goOn);
          done.push(...r.done);
        }
      }
      return { goOn, done };
    }
    case "jump":
    case "goto":
      return follow(c, a.kind, a.chain, matched, depth);
  }
}

type Acted = { goOn: Live[]; done: { s: Live; verdict: TableVerdict | "return" }[] };

function follow(c: Ctx, kind: "jump" | "goto", chain: string, matched: Live[], depth: number): Acted {
  if (!c.chains(chain)) throw new UntraceableRule(`${kind} to missing chain ${chain}`);
  const out = walk(c, chain, matched, depth + 1);
  const goOn: Live[] = [];
  const done: { s: Live; verdict: TableVerdict | "return" }[] = [];
  for (const o of out) {
    // A jump that returns continues here; a goto's return is its caller's.
    if (o.verdict === "return" && kind === "jump") goOn.push(o.s);
    else done.push(o);
  }
  return { goOn, done };
}

/** A verdict map lookup: the packet's element decides; no element, evaluation goes on. */
function vmap(c: Ctx, key: VmapKey, name: string, matched: Live[], depth: number): Acted {
  const map = c.env.maps?.get(name);
  if (!map) throw new UntraceableRule(`vmap @${name}: no such map`);
  if (map.table !== c.table) throw new UntraceableRule(`vmap @${name} names chains of ${map.table}, not ${c.table}`);
  const acted: Acted = { goOn: [], done: [] };
  for (const s of matched) {
    const port = `${s.pkt.protocol}:${s.pkt.dport}`;
    const v = map.elements.get(key === "proto.dport" ? port : `${canonical(s.pkt.dst)},${port}`);
    if (!v) acted.goOn.push(s);
    else if (v.kind === "drop") acted.done.push({ s, verdict: "drop" });
    else {
      const r = follow(c, v.kind, v.chain, [s], depth);
      acted.goOn.push(...r.goOn);
      acted.done.push(...r.done);
    }
  }
  return acted;
}
