// The headline table: the real agent against the kernel-write floor, with the
// issue's targets and the figures before this work for comparison.

import { COLD_LOADS } from "../nftables/cold-load.js";
import { type AgentFigures, type DaemonFigures, SAMPLE_GAP_MS } from "./agent.js";
import type { Dist } from "./measure.js";
import type { ChangeKind } from "./scale.js";

/**
 * Figures before issue 15's datastore work: commit e81d2db on this machine
 * with this bench (FXBENCH_FELIX, files written in place: that datastore lost
 * a file's events once it was replaced by a rename), by preset.
 */
const PREVIOUS: Record<string, { once?: string; rss?: string; change?: string; daemonRss?: string }> = {
  large: { once: "19.8 s (4.6× floor 4.3 s)", rss: "553 MB", change: "14.5–15.4 s", daemonRss: "947 MB" },
  medium: { once: "6.0 s (7.5× floor 0.8 s)", rss: "217 MB", change: "2.0–3.2 s", daemonRss: "445 MB" },
};

/**
 * Figures before this session's work (main at 9a2248f: session 15's closing
 * note, its quiet bench; session 16's machine ran the same floors 25-46%
 * slower, so compare ratios), by preset, dataplane (`legacy`, `nftables`) and
 * row key (`<datastore>:<what>`).
 */
const LAST: Record<string, Record<string, string>> = {
  "large:legacy": {
    "file:once": "7.89 s (2.06× floor 3.82 s)",
    "file:onceRss": "328 MB",
    "file:cold": "8.36 s (2.19× floor)",
    "file:local-pod-labels": "108 / 125 / 125 ms",
    "file:namespace-labels": "31 / 67 / 67 ms",
    "file:policy-added": "104 / 118 / 118 ms",
    "file:policy-changed": "99 / 132 / 132 ms",
    "file:service-endpoint-added": "1293 / 1596 / 1596 ms",
    "file:hwm": "299 MB",
    "kubernetes:cold": "8.35 s (7.35 s past the LIST, 1.92× floor)",
    "kubernetes:hwm": "300 MB",
  },
  "large:nftables": {
    "file:once": "9.10 s (1.70× floor 5.36 s, 2.19× per-table floor 4.16 s)",
    "file:cold": "9.24 s (1.72× floor)",
    "file:pod-labels": "15 / 93 / 93 ms",
    "file:local-pod-labels": "33 / 46 / 46 ms",
    "file:namespace-labels": "27 / 120 / 120 ms",
    "file:service-endpoint-added": "34 / 43 / 43 ms",
    "file:hwm": "322 MB",
  },
};

const s = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? "–" : `${(ms / 1000).toFixed(2)} s`);
const m = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? "–" : `${ms.toFixed(0)} ms`);
const mb = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? "–" : `${v.toFixed(0)} MB`);

/** Kinds of change that rewrite both families' filter tables (the rest change IP set members). */
const FILTER_KINDS: ReadonlySet<ChangeKind> = new Set(["local-pod-labels", "policy-added", "policy-changed"]);

export function renderAgentTable(
  preset: string,
  a: AgentFigures,
  floorMs: number | undefined,
  backend: string,
  tableChangeMs?: Record<string, number>,
  floorRunsMs?: readonly number[],
  /** nftables: the same tables each in its own `nft -f` (FloorResult.perTableMs). */
  floorPerTableMs?: number,
): string {
  const prev = PREVIOUS[preset] ?? {};
  const last = LAST[`${preset}:${backend === "nftables" ? "nftables" : "legacy"}`] ?? {};
  const rows: string[][] = [];
  const perTable = (ms: number | undefined) =>
    floorPerTableMs && ms ? `, ${(ms / floorPerTableMs).toFixed(2)}× per-table floor` : "";
  const ratio = (ms: number | undefined) =>
    floorMs && ms ? ` (${(ms / floorMs).toFixed(2)}× floor${perTable(ms)})` : "";
  const floorWhat =
    backend === "nftables" ? "nft -f of the same ruleset" : "ipset restore + iptables-restore of the same state";
  const floorRuns =
    floorRunsMs && floorRunsMs.length > 1 ? ` (median of ${floorRunsMs.map((ms) => s(ms)).join(", ")})` : "";
  rows.push([`kernel-write floor: ${floorWhat}`, `${s(floorMs)}${floorRuns}`, "", "", ""]);
  if (floorPerTableMs !== undefined)
    rows.push([
      `kernel-write floor per table: one nft -f a table, ${COLD_LOADS} at once`,
      `${s(floorPerTableMs)}${floorMs ? ` (${(floorPerTableMs / floorMs).toFixed(2)}× floor)` : ""}`,
      "",
      "",
      "",
    ]);
  if (a.once) {
    rows.push([
      `file: felix --once, cold (spawn → exit)${(a.once.runs ?? 1) > 1 ? `, median of ${a.once.runs} (best)` : ""}`,
      `${s(a.once.ms)}${ratio(a.once.ms)}${(a.once.runs ?? 1) > 1 ? ` (${s(a.once.minMs)}${ratio(a.once.minMs)})` : ""}`,
      "≤ 1.5× floor",
      last["file:once"] ?? "",
      prev.once ?? "",
    ]);
    rows.push([
      // ru_maxrss of the children: felix, or a process it ran (nftables: the cold start's `nft -f`).
      `file: felix --once, peak RSS${backend === "nftables" ? " (largest of felix and its nft -f)" : ""}`,
      mb(a.once.peakRssMB),
      "≤ 400 MB",
      last["file:onceRss"] ?? "",
      prev.rss ?? "",
    ]);
  }
  // A policy or local endpoint change rewrites the filter table of both families (legacy: each
  // whole); the other kinds change IP set members only.
  // Legacy: the agent writes both at once under the xtables lock it holds (iptables/xtables-lock.ts).
  const filters =
    tableChangeMs?.["filters at once"] ?? (tableChangeMs?.filter ?? Number.NaN) + (tableChangeMs?.filter6 ?? 0);
  const target = (kind: ChangeKind) =>
    kind.startsWith("service")
      ? `kernel's cost: ${m(tableChangeMs?.nat)} per nat change`
      : `p99 ≤ ${backend === "nftables" ? 50 : 100} ms${tableChangeMs?.filter !== undefined && FILTER_KINDS.has(kind) ? ` (kernel: ${m(filters)})` : ""}`;
  const daemon = (what: string, d: DaemonFigures | undefined, from: string, listMs?: number) => {
    if (!d) return;
    const list = listMs === undefined ? "" : ` (${s(d.coldMs - listMs)} past the LIST${ratio(d.coldMs - listMs)})`;
    rows.push([
      `${what}: daemon cold (spawn → programmed)`,
      `${s(d.coldMs)}${listMs === undefined ? ratio(d.coldMs) : list}`,
      listMs === undefined ? "" : "≤ 1.5× floor + LIST",
      last[`${what}:cold`] ?? "",
      "",
    ]);
    for (const [kind, dd] of Object.entries(d.kinds) as [ChangeKind, Dist][]) {
      const ap = d.applyKinds?.[kind];
      rows.push([
        `${what}: ${kind}, ${from} → programmed (p50 / p99 / max${dd.n === undefined ? "" : ` of ${dd.n}`}; apply p50)`,
        `${m(dd.p50)} / ${m(dd.p99)} / ${m(dd.max)}; ${m(ap?.p50)}`,
        target(kind),
        last[`${what}:${kind}`] ?? "",
        what === "file" ? (prev.change ?? "") : "",
      ]);
    }
    if (d.cpuMsPerWrite !== undefined)
      rows.push([
        `${what}: agent CPU per sampled write (change or revert)`,
        `${d.cpuMsPerWrite.toFixed(1)} ms`,
        "",
        "",
        "",
      ]);
    rows.push([
      `${what}: daemon RSS cold / after ${d.churn} random changes`,
      `${mb(d.rssColdMB)} / ${mb(d.rssAfterChurnMB)}`,
      "≤ 400 MB",
      last[`${what}:rss`] ?? "",
      "",
    ]);
    rows.push([
      `${what}: daemon peak RSS (VmHWM)`,
      mb(d.peakRssMB),
      "≤ 400 MB",
      last[`${what}:hwm`] ?? "",
      what === "file" ? (prev.daemonRss ?? "") : "",
    ]);
  };
  daemon("file", a.daemon, "file write");
  if (a.kubernetes) {
    rows.push([
      "kubernetes: objects created in the fake API server (not timed below)",
      s(a.kubernetes.createMs),
      "",
      "",
      "",
    ]);
    rows.push(["kubernetes: LIST of the whole cluster alone (bench/list-time.ts)", s(a.kubernetes.listMs), "", "", ""]);
    daemon("kubernetes", a.kubernetes, "API write (WATCH event)", a.kubernetes.listMs ?? Number.NaN);
  }
  if (tableChangeMs) {
    const costs = Object.entries(tableChangeMs).map(([t, ms]) => `${t} ${m(ms)}`);
    rows.push(["kernel's own cost of the smallest change per table (floor namespace)", costs.join(", "), "", "", ""]);
  }
  const headers = ["", "measured", "target", "before this session (main 9a2248f)", "before issue 15 (e81d2db)"];
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    `  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padEnd(widths[i]))).join("  ")}`;
  return [
    `\nend to end: the real felix process (iptables-${backend}), the kernel in a network namespace; ${a.files} manifest files, ${(a.bytes / 1e6).toFixed(1)} MB; a sampled change is written ${SAMPLE_GAP_MS} ms after the last one was programmed`,
    line(headers),
    ...rows.map(line),
  ].join("\n");
}
