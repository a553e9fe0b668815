// What felix demo prints after each measurement: a title, the matrix, why the
// blocked cells are blocked, and any problem with the input.

import type { Measurement } from "./demo-cluster.js";
import { formatMatrix } from "./matrix.js";
import type { Scenario } from "./scenario.js";
import { SERVICE_PROBES } from "./services.js";

export interface ReportOptions {
  readonly colour: boolean;
  /** Extra lines under the title (timings). */
  readonly status?: string;
}

export function report(s: Scenario, m: Measurement, o: ReportOptions): string {
  const bold = (t: string) => (o.colour ? `\x1b[1m${t}\x1b[0m` : t);
  const out: string[] = [];
  out.push(bold(`scenario ${s.name}${s.description ? `: ${s.description}` : ""}`));
  if (o.status) out.push(o.status);
  out.push("", formatMatrix(m, { colour: o.colour }).trimEnd(), "");
  if (m.serviceNotes.length) {
    out.push(
      bold(
        `services (${SERVICE_PROBES} or ${2 * SERVICE_PROBES} connections to the ClusterIP per cell: . all answered, X none, ~ some: the policies let the client reach only some backends):`,
      ),
    );
    for (const n of m.serviceNotes) out.push(`  ${n}`);
    out.push("");
  }
  if (m.explanations.length) {
    const partly = m.services?.length ? ", ~ partly" : "";
    out.push(bold(`blocked (. connected, X blocked${partly}; server ← client):`));
    for (const e of m.explanations) out.push(`  ${e}`);
  } else {
    out.push("every connection succeeded (. connected, X blocked)");
  }
  if (m.problems.length) {
    out.push("", bold("problems with the manifests (skipped, the rest is enforced):"));
    for (const p of m.problems) out.push(`  ${p}`);
  }
  return `${out.join("\n")}\n`;
}

export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
