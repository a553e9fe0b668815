// The reachability matrix as felix demo prints it, one block per port: a header
// row of servers, then one row per client (its name, then one cell per server,
// `.` connected, `X` blocked), as in the Kubernetes network-policy e2e truth
// tables. Also reads that text back, so a scenario's expected.txt can be compared.

import type { PortSpec } from "../netns/topology.js";

export interface Reachability {
  readonly clients: readonly string[];
  readonly servers: readonly string[];
  readonly ports: readonly PortSpec[];
  connected(client: string, server: string, port: PortSpec): boolean;
}

export const portLabel = (p: PortSpec) => `${p.protocol}/${p.port}`;

const GREEN = "\x1b[32m";
const RED = "\x1b[1;31m";
const DIM = "\x1b[2m";
const RESET = "\x1b[0m";

/** Colour when writing to a terminal, unless NO_COLOR is set (https://no-color.org). */
export function useColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && !env.NO_COLOR;
}

export function formatMatrix(m: Reachability, o: { colour?: boolean } = {}): string {
  const paint = (code: string, s: string) => (o.colour ? `${code}${s}${RESET}` : s);
  const blocks: string[] = [];
  for (const p of m.ports) {
    const first = Math.max(portLabel(p).length, ...m.clients.map((c) => c.length));
    const header = [portLabel(p).padEnd(first), ...m.servers].join("  ");
    const rows = [o.colour ? paint(DIM, header) : header];
    for (const c of m.clients) {
      const cells = m.servers.map((s) => {
        const ok = m.connected(c, s, p);
        const left = Math.floor((s.length - 1) / 2);
        const cell = ok ? paint(GREEN, ".") : paint(RED, "X");
        return `${" ".repeat(left)}${cell}${" ".repeat(s.length - 1 - left)}`;
      });
      rows.push([c.padEnd(first), ...cells].join("  ").trimEnd());
    }
    blocks.push(rows.join("\n"));
  }
  return `${blocks.join("\n\n")}\n`;
}

/** Cells of a printed matrix: "<proto>/<port> <client> <server>" → connected. */
export function parseMatrix(text: string): Map<string, boolean> {
  const cells = new Map<string, boolean>();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips colour codes
  const lines = text.replace(/\x1b\[[0-9;]*m/g, "").split("\n");
  let port = "";
  let servers: string[] = [];
  for (const line of lines) {
    const words = line.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) {
      port = "";
      continue;
    }
    if (!port) {
      if (!/^(tcp|udp)\/\d+$/.test(words[0]!)) continue;
      port = words[0]!;
      servers = words.slice(1);
      continue;
    }
    const [client, ...marks] = words;
    if (marks.length !== servers.length || !marks.every((x) => x === "." || x === "X")) {
      throw new Error(`matrix ${port}: row "${line.trim()}" does not have one . or X per server`);
    }
    for (const [i, s] of servers.entries()) cells.set(`${port} ${client} ${s}`, marks[i] === ".");
  }
  return cells;
}

/** Differences between an expected and an actual matrix, one line per cell ("" when equal). */
export function compareMatrices(expected: string, actual: string): string[] {
  const want = parseMatrix(expected);
  const got = parseMatrix(actual);
  const out: string[] = [];
  for (const [k, v] of want) {
    const g = got.get(k);
    if (g === undefined) out.push(`${k}: missing from the measured matrix`);
    else if (g !== v)
      out.push(`${k}: expected ${v ? "connected" : "blocked"}, measured ${g ? "connected" : "blocked"}`);
  }
  for (const k of got.keys()) if (!want.has(k)) out.push(`${k}: not in the expected matrix`);
  return out;
}
