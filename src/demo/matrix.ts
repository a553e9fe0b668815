// The reachability matrix as felix demo prints it, one block per port: a header
// row of servers, then one row per client (its name, then one cell per server,
// `.` connected, `X` blocked), as in the Kubernetes network-policy e2e truth
// tables. Service columns (`svc:<ns>/<name>`) follow the pods in the block of the
// port their backends serve; their cells may also be `~`: some connections to the
// ClusterIP answered, others did not (the policy allows only some backends).
// Also reads that text back, so a scenario's expected.txt can be compared.

import type { PortSpec } from "../netns/topology.js";

/** `.` connected, `X` blocked, `~` partly (service cells: only some backends answer). */
export type Cell = "." | "X" | "~";

export interface ServiceCells {
  readonly label: string;
  /** The block it is shown in. */
  readonly block: PortSpec;
  cell(client: string): Cell;
}

export interface Reachability {
  readonly clients: readonly string[];
  readonly servers: readonly string[];
  readonly ports: readonly PortSpec[];
  connected(client: string, server: string, port: PortSpec): boolean;
  /** Extra columns, one per probed service port. */
  readonly services?: readonly ServiceCells[];
}

export const portLabel = (p: PortSpec) => `${p.protocol}/${p.port}`;

const GREEN = "\x1b[32m";
const RED = "\x1b[1;31m";
const YELLOW = "\x1b[1;33m";
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
    const svcs = (m.services ?? []).filter((x) => x.block.port === p.port && x.block.protocol === p.protocol);
    const header = [portLabel(p).padEnd(first), ...m.servers, ...svcs.map((x) => x.label)].join("  ");
    const rows = [o.colour ? paint(DIM, header) : header];
    const colours: Record<Cell, string> = { ".": GREEN, X: RED, "~": YELLOW };
    const centred = (title: string, mark: Cell) => {
      const left = Math.floor((title.length - 1) / 2);
      return `${" ".repeat(left)}${paint(colours[mark], mark)}${" ".repeat(title.length - 1 - left)}`;
    };
    for (const c of m.clients) {
      const cells = [
        ...m.servers.map((s) => centred(s, m.connected(c, s, p) ? "." : "X")),
        ...svcs.map((x) => centred(x.label, x.cell(c))),
      ];
      rows.push([c.padEnd(first), ...cells].join("  ").trimEnd());
    }
    blocks.push(rows.join("\n"));
  }
  return `${blocks.join("\n\n")}\n`;
}

/** Cells of a printed matrix: "<proto>/<port> <client> <server>" → its mark. */
export function parseMatrix(text: string): Map<string, Cell> {
  const cells = new Map<string, Cell>();
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
    if (marks.length !== servers.length || !marks.every((x) => x === "." || x === "X" || x === "~")) {
      throw new Error(`matrix ${port}: row "${line.trim()}" does not have one . or X per server`);
    }
    for (const [i, s] of servers.entries()) cells.set(`${port} ${client} ${s}`, marks[i] as Cell);
  }
  return cells;
}

const WORDS: Record<Cell, string> = { ".": "connected", X: "blocked", "~": "partly connected" };

/** Differences between an expected and an actual matrix, one line per cell ("" when equal). */
export function compareMatrices(expected: string, actual: string): string[] {
  const want = parseMatrix(expected);
  const got = parseMatrix(actual);
  const out: string[] = [];
  for (const [k, v] of want) {
    const g = got.get(k);
    if (g === undefined) out.push(`${k}: missing from the measured matrix`);
    else if (g !== v) out.push(`${k}: expected ${WORDS[v]}, measured ${WORDS[g]}`);
  }
  for (const k of got.keys()) if (!want.has(k)) out.push(`${k}: not in the expected matrix`);
  return out;
}
