// The probe matrix of the kernel test topology: every (client, server, port), and its truth tables.

import type { Endpoint, PortSpec, ProbeMatrix, ProbeMatrixOptions, ProbeResult, Protocol, TopoPod } from "./types.js";

function portKey(p: PortSpec): string {
  return `${p.protocol}/${p.port}`;
}

export function endpointKey(e: Endpoint | string): string {
  return typeof e === "string" ? e : e.kind === "pod" ? e.key : `node/${e.name}`;
}

/**
 * Kubernetes e2e-style truth table: a header row of servers, one row per client,
 * tab-separated, with `.` where cell() is true and `X` where false.
 */
export function renderTruthTable(
  clients: readonly string[],
  servers: readonly string[],
  cell: (client: string, server: string) => boolean,
): string {
  const rows = [["-", ...servers].join("\t")];
  for (const c of clients) rows.push([c, ...servers.map((s) => (cell(c, s) ? "." : "X"))].join("\t"));
  return rows.join("\n");
}

/** Runs fns with at most `limit` in flight; results in order. */
async function pool<T>(limit: number, fns: readonly (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(fns.length);
  let next = 0;
  const worker = async () => {
    while (next < fns.length) {
      const i = next++;
      out[i] = await fns[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, fns.length)) }, worker));
  return out;
}

/** One probe: a real connection from `from` to `host`. */
export type ProbeFn = (
  from: Endpoint,
  host: string,
  port: number,
  protocol: Protocol,
  timeoutMs: number,
) => Promise<ProbeResult>;

/** Probes every (client, server, port) combination, `concurrency` (default 8) at a time. */
export async function probeMatrix(
  probe: ProbeFn,
  servers: readonly TopoPod[],
  ports: readonly PortSpec[],
  o: ProbeMatrixOptions,
): Promise<ProbeMatrix> {
  const clients = o.clients ?? servers;
  const timeoutMs = o.timeoutMs ?? 1000;
  const t0 = performance.now();
  const results: Record<string, Record<string, Record<string, ProbeResult>>> = {};
  const jobs: (() => Promise<void>)[] = [];
  for (const c of clients) {
    const ck = endpointKey(c);
    results[ck] = {};
    for (const s of servers) {
      const row: Record<string, ProbeResult> = {};
      results[ck]![s.key] = row;
      const dst = o.ipv6 ? s.ipv6 : s.ip;
      for (const p of ports) {
        jobs.push(async () => {
          row[portKey(p)] = dst
            ? await probe(c, dst, p.port, p.protocol, timeoutMs)
            : { ok: false, error: "no-ipv6-address", ms: 0 };
        });
      }
    }
  }
  await pool(o.concurrency ?? 8, jobs);
  const ms = Math.round(performance.now() - t0);
  const clientKeys = clients.map(endpointKey);
  const serverKeys = servers.map((s) => s.key);
  const got = (c: string, s: string, p: PortSpec) => results[c]?.[s]?.[portKey(p)]?.ok ?? false;
  const tables = (cell: (c: string, s: string, p: PortSpec) => boolean, title: string) =>
    ports
      .map((p) => `${title} ${portKey(p)}:\n${renderTruthTable(clientKeys, serverKeys, (c, s) => cell(c, s, p))}`)
      .join("\n\n");
  return {
    clients: clientKeys,
    servers: serverKeys,
    ports,
    results,
    ms,
    text: tables(got, "reachability"),
    get: (c, s, port, protocol) => got(endpointKey(c), endpointKey(s), { port, protocol }),
    compare(expected) {
      const mismatches: string[] = [];
      for (const c of clientKeys)
        for (const s of serverKeys)
          for (const p of ports) {
            const want = expected(c, s, p);
            const r = results[c]![s]![portKey(p)]!;
            if (r.ok !== want)
              mismatches.push(
                `${c} → ${s} ${portKey(p)}: expected ${want ? "connected" : "blocked"}, got ${
                  r.ok ? `connected (${r.reply})` : `blocked (${r.error})`
                }`,
              );
          }
      return {
        ok: mismatches.length === 0,
        mismatches,
        text: `${tables((c, s, p) => got(c, s, p) === expected(c, s, p), "comparison (. = as expected, X = differs)")}\n\n${tables(got, "actual")}`,
      };
    },
  };
}
