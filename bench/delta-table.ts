// The report's text tables: right-aligned figures, each followed by its change
// against the same path in an earlier --json output (--compare), "(+12%)" or "(=)".

export type Cell = string | { v: number | undefined; path?: string; d?: number; suffix?: string };

function get(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function fmt(v: number | undefined, d = 1): string {
  if (v === undefined || Number.isNaN(v)) return "–";
  return v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

export class Table {
  private readonly rows: Cell[][] = [];
  constructor(
    private readonly headers: string[],
    private readonly base: string,
    private readonly previous: unknown,
  ) {}
  row(...cells: Cell[]): this {
    this.rows.push(cells);
    return this;
  }
  private text(c: Cell): string {
    if (typeof c === "string") return c;
    let s = fmt(c.v, c.d ?? 1) + (c.suffix ?? "");
    if (this.previous !== undefined && c.path && c.v !== undefined) {
      const prev = get(this.previous, `${this.base}.${c.path}`);
      if (typeof prev === "number" && Number.isFinite(prev)) {
        if (prev === 0) s += c.v === 0 ? " (=)" : " (new)";
        else {
          const pct = ((c.v - prev) / Math.abs(prev)) * 100;
          s += Math.abs(pct) < 0.5 ? " (=)" : ` (${pct > 0 ? "+" : ""}${pct.toFixed(0)}%)`;
        }
      }
    }
    return s;
  }
  render(indent = "  "): string {
    const cells = [this.headers, ...this.rows.map((r) => r.map((c) => this.text(c)))];
    const widths = this.headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
    return cells
      .map((r) => indent + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  "))
      .join("\n");
  }
}

export const n0 = (v: number | undefined, path?: string): Cell => ({ v, path, d: 0 });
export const ms = (v: number | undefined, path?: string, d = 1): Cell => ({ v, path, d });
