// Compares two V8 heap snapshots (agent-memory.ts --snapshots, or
// v8.writeHeapSnapshot): what grew between them, by the objects' type and
// constructor, and by retained size along the dominator tree (paths of
// property names from the roots, numbered edges folded), so growth shows
// under the field that holds it:
//
//   node --max-old-space-size=8000 dist/bench/heap-diff.js cold.heapsnapshot churned.heapsnapshot [rows] [min bytes]

import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; edge_fields: string[]; node_types: [string[]]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** The graph of one snapshot in flat arrays, and its dominator tree's retained sizes. */
class Heap {
  readonly n: number;
  private readonly s: Snapshot;
  private readonly N: number;
  private readonly E: number;
  private readonly first: Uint32Array;
  private readonly f: Record<string, number>;
  readonly retained: Float64Array;
  readonly idom: Int32Array;

  constructor(file: string) {
    this.s = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
    const m = this.s.snapshot.meta;
    this.N = m.node_fields.length;
    this.E = m.edge_fields.length;
    this.f = {
      type: m.node_fields.indexOf("type"),
      name: m.node_fields.indexOf("name"),
      size: m.node_fields.indexOf("self_size"),
      edges: m.node_fields.indexOf("edge_count"),
      etype: m.edge_fields.indexOf("type"),
      ename: m.edge_fields.indexOf("name_or_index"),
      to: m.edge_fields.indexOf("to_node"),
    };
    this.n = this.s.nodes.length / this.N;
    this.first = new Uint32Array(this.n + 1);
    for (let i = 0, e = 0; i < this.n; i++) {
      this.first[i] = e;
      e += this.s.nodes[i * this.N + this.f.edges];
      this.first[i + 1] = e;
    }
    [this.idom, this.retained] = this.dominators();
  }

  type = (v: number) => this.s.snapshot.meta.node_types[0][this.s.nodes[v * this.N + this.f.type]];
  name = (v: number) => String(this.s.strings[this.s.nodes[v * this.N + this.f.name]]);
  self = (v: number) => this.s.nodes[v * this.N + this.f.size];
  private to = (e: number) => this.s.edges[e * this.E + this.f.to] / this.N;
  private weak = (e: number) => this.s.snapshot.meta.edge_types[0][this.s.edges[e * this.E + this.f.etype]] === "weak";

  /** The edge from `p` to `v` as a path step: a property name, or [] for elements and internal slots. */
  step(p: number, v: number): string {
    for (let e = this.first[p]; e < this.first[p + 1]; e++) {
      if (this.to(e) !== v) continue;
      const t = this.s.snapshot.meta.edge_types[0][this.s.edges[e * this.E + this.f.etype]];
      const nm = this.s.edges[e * this.E + this.f.ename];
      return t === "element" || t === "hidden" || /^\d+$/.test(String(this.s.strings[nm]))
        ? "[]"
        : String(this.s.strings[nm]);
    }
    return "?";
  }

  /** Cooper-Harvey-Kennedy over a post-order from the root (node 0), weak edges left out. */
  private dominators(): [Int32Array, Float64Array] {
    const { n } = this;
    const post = new Int32Array(n).fill(-1);
    const order = new Int32Array(n);
    const next = new Uint32Array(n);
    const seen = new Uint8Array(n);
    const stack = [0];
    let count = 0;
    seen[0] = 1;
    next[0] = this.first[0];
    while (stack.length > 0) {
      const v = stack[stack.length - 1];
      if (next[v] < this.first[v + 1]) {
        const e = next[v]++;
        const w = this.to(e);
        if (this.weak(e) || seen[w]) continue;
        seen[w] = 1;
        next[w] = this.first[w];
        stack.push(w);
      } else {
        stack.pop();
        post[v] = count;
        order[count++] = v;
      }
    }
    const preds: number[][] = Array.from({ length: n }, () => []);
    for (let v = 0; v < n; v++)
      if (seen[v]) for (let e = this.first[v]; e < this.first[v + 1]; e++) if (!this.weak(e)) preds[this.to(e)].push(v);
    const idom = new Int32Array(n).fill(-1);
    idom[0] = 0;
    for (let changed = true; changed; ) {
      changed = false;
      for (let k = count - 2; k >= 0; k--) {
        const v = order[k];
        let d = -1;
        for (const p of preds[v]) {
          if (idom[p] === -1) continue;
          let [a, b] = [p, d === -1 ? p : d];
          while (a !== b) {
            while (post[a] < post[b]) a = idom[a];
            while (post[b] < post[a]) b = idom[b];
          }
          d = a;
        }
        if (d !== -1 && idom[v] !== d) {
          idom[v] = d;
          changed = true;
        }
      }
    }
    const retained = new Float64Array(n);
    for (let k = 0; k < count; k++) {
      const v = order[k];
      retained[v] += this.self(v);
      if (v !== 0) retained[idom[v]] += retained[v];
    }
    return [idom, retained];
  }

  /** Self size by `type:constructor` (strings by their first characters, digits folded). */
  byKind(): Map<string, number> {
    const out = new Map<string, number>();
    for (let v = 0; v < this.n; v++) {
      const t = this.type(v);
      const name = t.includes("string") ? this.name(v).slice(0, 12).replace(/\d+/g, "#") : this.name(v).slice(0, 50);
      const k = `${t}:${name}`;
      out.set(k, (out.get(k) ?? 0) + this.self(v));
    }
    return out;
  }

  /** Retained size by dominator path (to `depth` steps below the GC roots), for nodes retaining `min` bytes or more. */
  byPath(min: number, depth = 8): Map<string, number> {
    const kids = new Map<number, number[]>();
    for (let v = 1; v < this.n; v++) {
      if (this.idom[v] < 0 || this.retained[v] < min) continue;
      const list = kids.get(this.idom[v]) ?? [];
      kids.set(this.idom[v], list);
      list.push(v);
    }
    const out = new Map<string, number>();
    const walk = (v: number, path: string, d: number) => {
      for (const c of kids.get(v) ?? []) {
        const label = this.type(c) === "object" ? this.name(c).slice(0, 30) : this.type(c);
        const p = `${path}.${this.step(v, c)}(${label})`;
        out.set(p, (out.get(p) ?? 0) + this.retained[c]);
        if (d < depth) walk(c, p, d + 1);
      }
    };
    walk(0, "", 0);
    return out;
  }
}

function printDiff(title: string, a: Map<string, number>, b: Map<string, number>, rows: number): void {
  const keys = [...new Set([...a.keys(), ...b.keys()])];
  const delta = (k: string) => (b.get(k) ?? 0) - (a.get(k) ?? 0);
  keys.sort((x, y) => Math.abs(delta(y)) - Math.abs(delta(x)));
  const mb = (x: number) => (x / 1e6).toFixed(2).padStart(8);
  process.stdout.write(`\n${title}\n   delta   before    after\n`);
  for (const k of keys.slice(0, rows))
    process.stdout.write(`${mb(delta(k))} ${mb(a.get(k) ?? 0)} ${mb(b.get(k) ?? 0)}  ${k}\n`);
}

const [fileA, fileB, rowsArg, minArg] = process.argv.slice(2);
if (!fileA || !fileB)
  throw new Error("usage: heap-diff.js <before.heapsnapshot> <after.heapsnapshot> [rows] [min bytes]");
const rows = Number(rowsArg ?? 30);
const min = Number(minArg ?? 100_000);
const a = new Heap(fileA);
const b = new Heap(fileB);
process.stdout.write(`live: ${(a.retained[0] / 1e6).toFixed(1)} MB -> ${(b.retained[0] / 1e6).toFixed(1)} MB\n`);
printDiff("self size by type:constructor (MB)", a.byKind(), b.byKind(), rows);
printDiff(`retained size by dominator path, nodes of ${min} bytes or more (MB)`, a.byPath(min), b.byPath(min), rows);
