// `felix-dump config`: the FelixConfiguration/env settings the rules are
// rendered with (after `default` < `node.<name>` < env), and the set fields
// felix-ts ignores because it does not implement them.

import type { DesiredState } from "../../calc-graph/desired-state.js";

function show(k: string, v: unknown): string {
  if (k === "markMask") return `0x${(v as number).toString(16)}`;
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function configText(s: DesiredState): string {
  const lines = Object.entries(s.config?.settings ?? {}).map(([k, v]) => `${k} = ${show(k, v)}\n`);
  const ignored = s.config?.ignored ?? [];
  const tail = ignored.length
    ? `# ignored (set, but not implemented by felix-ts):\n${ignored.map((f) => `#   ${f}\n`).join("")}`
    : "";
  return lines.join("") + tail;
}

export function configJson(s: DesiredState): unknown {
  return { settings: s.config?.settings ?? {}, ignored: s.config?.ignored ?? [] };
}
