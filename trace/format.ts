// A trace result for people: the verdict, who talks to whom, every rule hit
// with its origin, and per service branch its share, DNAT and masquerade.

import { type TraceBranchResult, type TracedStep, type TraceResult, whyText } from "./cluster-trace.js";

const addr = (ip: string) => (ip.includes(":") ? `[${ip}]` : ip);

function partyText(p: { workload?: string; node?: string; host?: boolean }): string {
  if (p.workload) return `${p.workload} on ${p.node}`;
  if (p.host) return `host ${p.node}`;
  return "outside the cluster";
}

function stepLines(path: readonly TracedStep[], indent: string): string[] {
  const w = Math.max(0, ...path.map((s) => `${s.node} ${s.table} ${s.chain}#${s.rule}`.length));
  const a = Math.max(0, ...path.map((s) => s.action.length));
  return path.map(
    (s) =>
      `${indent}${`${s.node} ${s.table} ${s.chain}#${s.rule}`.padEnd(w)}  ${s.action.padEnd(a)}  ${whyText(s.origin)}`,
  );
}

function branchHead(b: TraceBranchResult, i: number): string {
  const share = b.conditions.some((c) => c.startsWith("the client has"))
    ? "returning client"
    : `p=${b.probability.toFixed(4)}`;
  const dnat = b.dnat ? `  DNAT to ${addr(b.dnat.ip)}:${b.dnat.port}` : "";
  return `  ${i + 1}. ${share}${dnat} → ${partyText(b.server)}: ${b.verdict}`;
}

export function traceResultText(r: TraceResult): string {
  const p = r.packet;
  const share =
    r.verdict === "deny" && r.allowedShare > 0
      ? ` (allowed for ${(r.allowedShare * 100).toFixed(1)}% of new connections)`
      : "";
  const out = [`${p.src} → ${addr(p.dst)}:${p.dport}/${p.protocol}: ${r.verdict}${share}`];
  out.push(`  client ${partyText(r.client)}`);
  const single = r.branches.length === 1 && !r.branches[0].dnat;
  if (single) {
    const b = r.branches[0];
    out.push(`  server ${partyText(b.server)}`);
    out.push(...stepLines(b.path, "    "));
    if (b.masquerade) out.push(`  masquerade: yes; ${b.masqueradeWhy}`);
  } else {
    r.branches.forEach((b, i) => {
      out.push(branchHead(b, i));
      for (const c of b.conditions) out.push(`     ${c.startsWith("records") ? "then" : "if"} ${c}`);
      out.push(...stepLines(b.path, "       "));
      if (b.dnat) out.push(`     masquerade: ${b.masquerade ? `yes; ${b.masqueradeWhy}` : "no"}`);
    });
  }
  if (r.deniedBy)
    out.push(`  denied by: ${r.deniedBy.node} ${r.deniedBy.chain}#${r.deniedBy.rule}: ${whyText(r.deniedBy.origin)}`);
  return `${out.join("\n")}\n`;
}
