// `felix-dump trace <src-ip> <dst-ip>:<port>/<proto>`: the first packet of a
// connection through the rendered service rules: nat PREROUTING (OUTPUT when
// the source is this node), the service filter chains on its way (OUTPUT from
// this node; INPUT to one of its addresses: the localnet firewall, the health
// check node ports, the LB firewall, external services; FORWARD otherwise:
// the LB firewall, services, external services, the proxy's forward chain),
// then nat POSTROUTING for the masquerade decision. A probabilistic or
// affinity jump yields every branch.

import { type DesiredState, familyKey } from "../../calc-graph/desired-state.js";
import { MARK_MASQ_CHAIN } from "../../calc-graph/services/names.js";
import { type TracePacket, Tracer, type TraceTable } from "../../iptables/tracer.js";
import { chainList, chainOf, type FamilyTables, type TableState } from "../../model/tables.js";

export interface TraceBranch {
  readonly probability: number;
  readonly conditions: readonly string[];
  /** "DNAT to ip:port", "REJECT", "DROP", or "no service rule matched". */
  readonly result: string;
  readonly dnat?: { readonly ip: string; readonly port: number };
  readonly masquerade: boolean;
  /** Why (not) masqueraded: the comment of the rule that marked the packet. */
  readonly masqueradeWhy: string;
  readonly path: readonly string[];
  readonly comments: readonly string[];
}

export interface TraceReport {
  readonly packet: TracePacket;
  readonly entry: string;
  readonly branches: readonly TraceBranch[];
}

/** `10.96.0.10:80/tcp`, `[fd00::10]:80/udp`. */
export function parseTarget(text: string): { ip: string; port: number; protocol: "tcp" | "udp" | "sctp" } {
  const m = /^\[?([0-9a-fA-F:.]+?)\]?:(\d+)\/(tcp|udp|sctp)$/i.exec(text.trim());
  if (!m) throw new Error(`destination must look like <ip>:<port>/<tcp|udp|sctp>, not ${JSON.stringify(text)}`);
  return { ip: m[1].toLowerCase(), port: Number(m[2]), protocol: m[3].toLowerCase() as "tcp" | "udp" | "sctp" };
}

/** A table's chains plus its built-in chains holding our hook rules. */
function traceTable(t: TableState, extra: Record<string, string[]> = {}): TraceTable {
  const chains: Record<string, string[]> = { ...extra };
  for (const c of chainList(t)) chains[c.name] = c.rules.map((r) => r.text);
  for (const [name, h] of Object.entries(t.hooks)) chains[name] = [...h.insert, ...h.append].map((r) => r.text);
  return { chains };
}

export function traceService(s: DesiredState, packet: TracePacket, localAddresses: readonly string[]): TraceReport {
  const v = packet.dst.includes(":") ? 6 : 4;
  const tables: FamilyTables = s.iptables[familyKey(v)];
  const ipsets: Record<string, Iterable<string>> = {};
  for (const set of Object.values(s.ipsets)) ipsets[set.name] = set.members;
  const env = { localAddresses, ipsets };
  const nat = traceTable(tables.nat);
  const natTracer = new Tracer(nat, env);
  const fromHost = localAddresses.includes(packet.src);
  const entry = fromHost ? "OUTPUT" : "PREROUTING";
  const entries = (chains: string[]) => chains.filter((c) => chainOf(tables.filter, c)).map((c) => `-j ${c}`);
  const filterTracer = new Tracer(
    traceTable(tables.filter, {
      "<output>": entries(["cali-FIREWALL", "cali-PROXY-FIREWALL", "cali-SERVICES"]),
      "<input>": entries(["cali-FIREWALL", "cali-NODEPORTS", "cali-PROXY-FIREWALL", "cali-EXTERNAL-SERVICES"]),
      "<forward>": entries(["cali-PROXY-FIREWALL", "cali-SERVICES", "cali-EXTERNAL-SERVICES", "cali-PROXY-FORWARD"]),
    }),
    env,
  );
  const filterPath = (p: TracePacket) =>
    fromHost ? "<output>" : localAddresses.includes(p.dst) ? "<input>" : "<forward>";

  const branches: TraceBranch[] = [];
  for (const o of natTracer.trace(entry, packet)) {
    let result = "no service rule matched";
    if (o.verdict === "dnat")
      result = `DNAT to ${o.dnat!.ip.includes(":") ? `[${o.dnat!.ip}]` : o.dnat!.ip}:${o.dnat!.port}`;
    else if (o.verdict !== "continue") result = o.verdict.toUpperCase();
    const conditions = [...o.conditions];
    const path = [...o.path];
    const comments = [...o.comments];
    if (o.verdict === "continue" || o.verdict === "dnat") {
      // The filter chains on the way may refuse it (no endpoints, source ranges, the localnet
      // firewall) or let it in (a health check node port, service traffic under a DROP policy).
      const entry = filterPath(o.packet);
      const pkt = { ...o.packet, mark: o.mark, dnated: o.verdict === "dnat" };
      const f = filterTracer.trace(entry, pkt).filter((x) => x.verdict !== "continue");
      if (f.length > 0) {
        const verdict = `${f[0].verdict.toUpperCase()} (filter ${entry.slice(1, -1).toUpperCase()}: ${f[0].comments.join("; ")})`;
        if (o.verdict === "continue") result = verdict;
        else if (f[0].verdict !== "accept") result = `${result}, then ${verdict}`;
        path.push(...f[0].path.map((step) => `filter ${step}`));
      }
    }
    const post = natTracer.trace("POSTROUTING", { ...o.packet, mark: o.mark });
    const masquerade = post.some((p) => p.verdict === "masquerade");
    const markStep = o.path.find((step) => {
      const [chain, n] = step.split("#");
      return (nat.chains[chain]?.[Number(n) - 1] ?? "").endsWith(`-j ${MARK_MASQ_CHAIN}`);
    });
    const why = markStep ? masqueradeReason(markStep, nat) : "nat-outgoing";
    branches.push({
      probability: o.probability,
      conditions,
      result,
      ...(o.dnat ? { dnat: o.dnat } : {}),
      masquerade,
      masqueradeWhy: masquerade
        ? `marked at ${why}`
        : o.verdict === "dnat"
          ? "source kept (from the cluster's pods, no hairpin, no external-traffic masquerade)"
          : "",
      path,
      comments,
    });
  }
  return { packet, entry: `nat ${entry}${fromHost ? " (source is this node)" : ""}`, branches };
}

/** kube-proxy's three reasons to masquerade, told by the chain that marked the packet. */
function masqueradeReason(step: string, nat: TraceTable): string {
  const [chain, n] = step.split("#");
  if (chain.startsWith("cali-SEP-")) return `${step}: hairpin (the client is the chosen endpoint)`;
  if (chain.startsWith("cali-SVC-") || chain.startsWith("cali-SVL-")) {
    return `${step}: source outside the cluster's pod CIDRs`;
  }
  const text = nat.chains[chain]?.[Number(n) - 1] ?? "";
  return `${step}: ${/--comment "([^"]*)"[^"]*$/.exec(text)?.[1] ?? "external traffic"}`;
}

export function traceText(r: TraceReport): string {
  const p = r.packet;
  const dst = p.dst.includes(":") ? `[${p.dst}]` : p.dst;
  const out = [`${p.src} → ${dst}:${p.dport}/${p.protocol}, entering ${r.entry}`];
  r.branches.forEach((b, i) => {
    const prob = b.conditions.some((c) => c.startsWith("the client has"))
      ? "returning client"
      : `p=${b.probability.toFixed(4)}`;
    out.push(`  ${i + 1}. ${prob}  ${b.result}`);
    if (b.path.length) out.push(`     via ${b.path.join(" → ")}`);
    for (const c of b.comments) out.push(`     "${c}"`);
    for (const c of b.conditions) out.push(`     ${c.startsWith("records") ? "then" : "if"} ${c}`);
    if (b.result.startsWith("DNAT")) out.push(`     masquerade: ${b.masquerade ? "yes" : "no"}; ${b.masqueradeWhy}`);
  });
  return `${out.join("\n")}\n`;
}
