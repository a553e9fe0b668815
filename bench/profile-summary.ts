#!/usr/bin/env node

// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the top functions by
// self time, optionally by inclusive time, optionally only within the samples
// whose stack passes through one function.
//
//   node dist/bench/profile-summary.js <file.cpuprofile> [--top 10] [--inclusive]
//        [--focus <functionName>[@<url substring>]] [--from <ms>] [--to <ms>]
//
// `--from` counts only samples taken that long after the profile started: a
// daemon's per-change phase without its cold start; `--to`, only those before
// that point (one phase of a cold start).
//
// Locations are mapped back to the TypeScript sources through the .js.map
// files next to the compiled code, when there are any.

import { existsSync, readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError } from "commander";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  /** 0-based. */
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: number[];
}

interface CpuProfile {
  readonly nodes: ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: number[];
  readonly timeDeltas?: number[];
}

const maps = new Map<string, SourceMap | null>();

function sourceMapFor(url: string): SourceMap | null {
  if (maps.has(url)) return maps.get(url)!;
  let map: SourceMap | null = null;
  try {
    const file = url.startsWith("file://") ? fileURLToPath(url) : url;
    if (file.endsWith(".js") && existsSync(`${file}.map`)) {
      map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, "utf8")));
    }
  } catch {
    map = null;
  }
  maps.set(url, map);
  return map;
}

/** `path:line` of a frame, in the TypeScript source when a source map knows it. */
function location(f: CallFrame): string {
  if (!f.url) return "";
  const map = sourceMapFor(f.url);
  const entry = map?.findEntry(f.lineNumber, f.columnNumber) as
    | { originalSource?: string; originalLine?: number }
    | undefined;
  const cwd = `file://${process.cwd()}/`;
  if (entry?.originalSource) {
    const src = entry.originalSource.startsWith("file://")
      ? entry.originalSource.replace(cwd, "")
      : entry.originalSource.replace(/^(\.\.\/)+/, "");
    return `${src}:${(entry.originalLine ?? 0) + 1}`;
  }
  return `${f.url.replace(cwd, "").replace(/^node:/, "node:")}:${f.lineNumber + 1}`;
}

export interface Row {
  readonly name: string;
  readonly where: string;
  readonly ms: number;
  readonly pct: number;
}

export interface Summary {
  readonly totalMs: number;
  /** Time of the samples counted (all, or those under --focus). */
  readonly countedMs: number;
  readonly self: Row[];
  readonly inclusive: Row[];
}

export function summarize(
  profile: CpuProfile,
  top = 10,
  focus?: { fn: string; url?: string },
  fromMs = 0,
  toMs = Number.POSITIVE_INFINITY,
): Summary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // A sample stands for the time since the one before it (not, as DevTools counts, until the next
  // one): a sample due during a long system call is taken when the call returns, inside it, and
  // DevTools' way charged a netlink batch's sendmsg (the kernel's commit) to whatever ran just
  // before it (the batch's encoder, ~20x its own time).
  const durations = samples.map((_, i) => (deltas[i] ?? 0) / 1000);
  // Each sample's time since the profile started, ms.
  let at = 0;
  const times = deltas.map((d) => (at += d / 1000));
  const keyOf = (f: CallFrame) => `${f.functionName || "(anonymous)"}\u0000${location(f)}`;

  const selfMs = new Map<string, number>();
  const inclMs = new Map<string, number>();
  let totalMs = 0;
  let countedMs = 0;
  const stackCache = new Map<number, { keys: Set<string>; inFocus: boolean }>();
  const stackOf = (id: number) => {
    let s = stackCache.get(id);
    if (s) return s;
    const keys = new Set<string>();
    let inFocus = !focus;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      keys.add(keyOf(f));
      if (focus && f.functionName === focus.fn && (!focus.url || f.url.includes(focus.url))) inFocus = true;
    }
    s = { keys, inFocus };
    stackCache.set(id, s);
    return s;
  };
  samples.forEach((id, i) => {
    const t = times[i] ?? 0;
    if (t < fromMs || t >= toMs) return;
    const d = durations[i];
    totalMs += d;
    const st = stackOf(id);
    if (!st.inFocus) return;
    countedMs += d;
    const k = keyOf(byId.get(id)!.callFrame);
    selfMs.set(k, (selfMs.get(k) ?? 0) + d);
    for (const key of st.keys) inclMs.set(key, (inclMs.get(key) ?? 0) + d);
  });
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, ms]) => {
        const [name, where] = k.split("\u0000");
        return { name, where, ms, pct: countedMs ? (ms / countedMs) * 100 : 0 };
      });
  return { totalMs, countedMs, self: rows(selfMs), inclusive: rows(inclMs) };
}

function table(title: string, rows: readonly Row[]): string {
  const lines = rows.map((r, i) => [String(i + 1), r.ms.toFixed(1), `${r.pct.toFixed(1)}%`, r.name, r.where]);
  const head = ["#", "ms", "%", "function", "where"];
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) =>
    l
      .map((c, i) => (i < 3 ? c.padStart(w[i]) : c.padEnd(w[i])))
      .join("  ")
      .trimEnd();
  return [title, fmt(head), ...lines.map(fmt)].join("\n");
}

function main(): void {
  const program = new Command()
    .name("profile-summary")
    .argument("<file>", "a .cpuprofile written by node --cpu-prof")
    .option(
      "--top <n>",
      "rows to show",
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("--top must be a positive whole number");
        return n;
      },
      10,
    )
    .option("--inclusive", "also list the top functions by inclusive (total) time")
    .option("--focus <fn[@url]>", "count only samples whose stack passes through this function")
    .option("--from <ms>", "count only samples taken this long after the profile started", Number, 0)
    .option("--to <ms>", "count only samples taken before this long after the profile started", Number)
    .parse(process.argv);
  const o = program.opts<{ top: number; inclusive?: boolean; focus?: string; from: number; to?: number }>();
  const file = program.args[0];
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const focus = o.focus ? { fn: o.focus.split("@")[0], url: o.focus.split("@")[1] } : undefined;
  const s = summarize(profile, o.top, focus, o.from, o.to);
  const out = [
    `${file}: ${s.totalMs.toFixed(0)} ms sampled` +
      (focus || o.from || o.to !== undefined ? `, ${s.countedMs.toFixed(0)} ms counted` : "") +
      ` (wall ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms)`,
    "",
    table(`top ${o.top} by self time`, s.self),
  ];
  if (o.inclusive) out.push("", table(`top ${o.top} by inclusive time`, s.inclusive));
  process.stdout.write(`${out.join("\n")}\n`);
}

main();
