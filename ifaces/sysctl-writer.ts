// Sysctls through procfs (paths relative to /proc/sys), an in-memory fake, and
// a reconciler that writes only values that differ from what it reads.
//
// /proc/sys/net is per network namespace: a process sees (and writes) the
// namespace it runs in, so `ip netns exec <ns> node ...` configures <ns>.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Sysctls {
  /** The value, trimmed. Rejects with `code === "ENOENT"` when the path does not exist. */
  read(path: string): Promise<string>;
  /** Rejects with `code === "ENOENT"` when the path does not exist (never creates it). */
  write(path: string, value: string): Promise<void>;
}

/** An error shaped like NodeJS.ErrnoException. */
export class SysctlError extends Error {
  constructor(
    readonly code: string,
    readonly path: string,
    message?: string,
  ) {
    super(message ?? `${code}: ${path}`);
    this.name = "SysctlError";
  }
}

export function sysctlErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A missing path: the interface is gone (or not there yet), or IPv6 is disabled. */
export function isMissing(err: unknown): boolean {
  return sysctlErrorCode(err) === "ENOENT";
}

function checkPath(path: string): string {
  const p = path.replace(/^\/+/, "");
  if (p === "" || p.split("/").some((s) => s === ".." || s === "." || s === "")) {
    throw new SysctlError("EINVAL", path, `invalid sysctl path ${JSON.stringify(path)}`);
  }
  return p;
}

/** Compares the way the kernel prints (multi-value sysctls are tab-separated). */
export function normalizeSysctl(v: string): string {
  return v.trim().split(/\s+/).join(" ");
}

// /proc/sys files are read and written synchronously: they never wait for a
// disk, a read or write takes microseconds, and the promise API would pay a
// thread-pool round trip for each of open, fstat, read/write and close
// (about 1,200 sysctls at start-up took 200-400 ms that way, ~30 ms now).
export class ProcSysctls implements Sysctls {
  constructor(private readonly root = "/proc/sys") {}

  async read(path: string): Promise<string> {
    return readFileSync(join(this.root, checkPath(path)), "utf8").trim();
  }

  async write(path: string, value: string): Promise<void> {
    // "r+": no O_CREAT, so a missing path is ENOENT rather than an attempt to create it.
    writeFileSync(join(this.root, checkPath(path)), value, { flag: "r+" });
  }
}

/** Per-interface defaults the fake gives a new interface (roughly a fresh veth's). */
export const FAKE_INTERFACE_DEFAULTS: Readonly<Record<string, string>> = {
  "net/ipv4/conf/{}/forwarding": "0",
  "net/ipv4/conf/{}/proxy_arp": "0",
  "net/ipv4/conf/{}/route_localnet": "0",
  "net/ipv4/conf/{}/rp_filter": "2",
  "net/ipv4/neigh/{}/proxy_delay": "80",
  "net/ipv6/conf/{}/accept_ra": "1",
  "net/ipv6/conf/{}/forwarding": "0",
  "net/ipv6/conf/{}/proxy_ndp": "0",
};

export class FakeSysctls implements Sysctls {
  readonly values = new Map<string, string>();
  /** Every successful write as `path=value`. */
  readonly writes: string[] = [];
  readonly reads: string[] = [];
  ipv6 = true;

  constructor(initial: Record<string, string> = { "net/ipv4/ip_forward": "0", "net/ipv6/conf/all/forwarding": "0" }) {
    for (const [k, v] of Object.entries(initial)) this.values.set(checkPath(k), v);
  }

  /** Creates an interface's directories (IPv6 ones only while `ipv6` is true). */
  addInterface(name: string, overrides: Record<string, string> = {}): void {
    for (const [tmpl, v] of Object.entries(FAKE_INTERFACE_DEFAULTS)) {
      const p = tmpl.replace("{}", name);
      if (!this.ipv6 && p.startsWith("net/ipv6/")) continue;
      this.values.set(p, overrides[p] ?? v);
    }
  }

  removeInterface(name: string): void {
    for (const p of [...this.values.keys()]) if (interfaceOfSysctl(p) === name) this.values.delete(p);
  }

  async read(path: string): Promise<string> {
    const p = checkPath(path);
    this.reads.push(p);
    const v = this.values.get(p);
    if (v === undefined) throw new SysctlError("ENOENT", p);
    return v.trim();
  }

  async write(path: string, value: string): Promise<void> {
    const p = checkPath(path);
    if (!this.values.has(p)) throw new SysctlError("ENOENT", p);
    this.values.set(p, value);
    this.writes.push(`${p}=${value}`);
  }
}

/** The interface a per-interface path belongs to (`net/ipv4/conf/<if>/...`, `net/ipv6/neigh/<if>/...`). */
export function interfaceOfSysctl(path: string): string | undefined {
  const m = /^\/?net\/ipv[46]\/(?:conf|neigh)\/([^/]+)\//.exec(path);
  return m?.[1];
}

export interface SysctlFailure {
  readonly path: string;
  readonly error: string;
  readonly code?: string;
  /** For per-interface paths. */
  readonly iface?: string;
}

export interface SysctlApplyResult {
  readonly written: number;
  readonly unchanged: number;
  /** ENOENT: interface not there (yet), or IPv6 disabled. Retried by `onLinkAdded` and `apply`. */
  readonly missing: SysctlFailure[];
  /** Anything else (EINVAL from the kernel, EACCES, ...). */
  readonly failed: SysctlFailure[];
  readonly durationMs: number;
}

export interface SysctlReconcilerOptions {
  /** Reads/writes in flight (default 8). */
  readonly concurrency?: number;
}

export class SysctlReconciler {
  private desired = new Map<string, string>();
  private missingPaths = new Set<string>();
  private readonly concurrency: number;

  constructor(
    private readonly sysctls: Sysctls,
    opts: SysctlReconcilerOptions = {},
  ) {
    this.concurrency = Math.max(1, opts.concurrency ?? 8);
  }

  /** Replaces the desired set (path relative to /proc/sys -> value). Nothing is ever reset to a default. */
  setDesired(record: Readonly<Record<string, string>>): void {
    this.desired = new Map(Object.entries(record).map(([k, v]) => [k.replace(/^\/+/, ""), String(v)]));
    for (const p of [...this.missingPaths]) if (!this.desired.has(p)) this.missingPaths.delete(p);
  }

  /** Paths that were missing at the last attempt. */
  get missing(): string[] {
    return [...this.missingPaths].sort();
  }

  /** Reads every desired path and writes those that differ. */
  apply(): Promise<SysctlApplyResult> {
    return this.applyPaths([...this.desired.keys()]);
  }

  /** An interface appeared: apply just its paths. */
  onLinkAdded(name: string): Promise<SysctlApplyResult> {
    return this.applyPaths([...this.desired.keys()].filter((p) => interfaceOfSysctl(p) === name));
  }

  private async applyPaths(paths: string[]): Promise<SysctlApplyResult> {
    const t0 = performance.now();
    let written = 0;
    let unchanged = 0;
    const missing: SysctlFailure[] = [];
    const failed: SysctlFailure[] = [];
    let next = 0;
    const one = async (path: string) => {
      const want = this.desired.get(path);
      if (want === undefined) return;
      try {
        const have = await this.sysctls.read(path);
        if (normalizeSysctl(have) === normalizeSysctl(want)) unchanged++;
        else {
          await this.sysctls.write(path, want);
          written++;
        }
        this.missingPaths.delete(path);
      } catch (e) {
        const f: SysctlFailure = {
          path,
          error: (e as Error)?.message ?? String(e),
          code: sysctlErrorCode(e),
          iface: interfaceOfSysctl(path),
        };
        if (isMissing(e)) {
          this.missingPaths.add(path);
          missing.push(f);
        } else failed.push(f);
      }
    };
    const worker = async () => {
      while (next < paths.length) await one(paths[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, paths.length) }, worker));
    const byPath = (a: SysctlFailure, b: SysctlFailure) => (a.path < b.path ? -1 : 1);
    return {
      written,
      unchanged,
      missing: missing.sort(byPath),
      failed: failed.sort(byPath),
      durationMs: performance.now() - t0,
    };
  }
}
