// All endpoint statuses as one JSON file, for a CNI plugin or an operator to
// read: `<FELIX_ENDPOINTSTATUSPATHPREFIX>/felix-ts-endpoint-status.json`
// (prefix default /var/run/calico, Felix's EndpointStatusPathPrefix).
//
// Writes are atomic (a temp file in the same directory, fsynced, then renamed
// over the old one: readers see the old or the new file, never half of one),
// one at a time, and only when the content changed. The directory is created
// when missing.
//
//   {
//     "endpoints": {
//       "prod/web": { "workload": "prod/web", "iface": "cali1234…", "status": "up",
//                     "reason": "programmed", "since": "2026-01-01T00:00:00.000Z" }
//     }
//   }

import { mkdir, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { EndpointStatus } from "./endpoint-status.js";
import { envDir } from "./env.js";

export const DEFAULT_ENDPOINT_STATUS_PATH_PREFIX = "/var/run/calico";
export const ENDPOINT_STATUS_FILE_NAME = "felix-ts-endpoint-status.json";
export const DEFAULT_ENDPOINT_STATUS_PATH = join(DEFAULT_ENDPOINT_STATUS_PATH_PREFIX, ENDPOINT_STATUS_FILE_NAME);

export interface EndpointStatusConfig {
  /** The status file: `<FELIX_ENDPOINTSTATUSPATHPREFIX>/felix-ts-endpoint-status.json`. */
  readonly path: string;
}

export function endpointStatusConfigFromEnv(env: NodeJS.ProcessEnv): EndpointStatusConfig {
  const prefix = envDir(env, "FELIX_ENDPOINTSTATUSPATHPREFIX", DEFAULT_ENDPOINT_STATUS_PATH_PREFIX);
  return { path: join(prefix, ENDPOINT_STATUS_FILE_NAME) };
}

/** The file's content for these statuses (keyed and sorted by workload). */
export function renderEndpointStatusFile(statuses: readonly EndpointStatus[]): string {
  const endpoints: Record<string, EndpointStatus> = {};
  for (const s of [...statuses].sort((a, b) => (a.workload < b.workload ? -1 : a.workload > b.workload ? 1 : 0))) {
    endpoints[s.workload] = {
      workload: s.workload,
      iface: s.iface,
      status: s.status,
      reason: s.reason,
      since: s.since,
    };
  }
  return `${JSON.stringify({ endpoints }, null, 2)}\n`;
}

let tmpCounter = 0;

/** Writes `content` to `path` atomically: temp file in the same directory, fsync, rename. */
export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${++tmpCounter}.tmp`);
  try {
    const fh = await open(tmp, "w", mode);
    try {
      await fh.chmod(mode);
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

export class EndpointStatusFile {
  private lastWritten: string | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  /** Files actually written (for tests and debug logs). */
  writes = 0;

  constructor(readonly path: string = DEFAULT_ENDPOINT_STATUS_PATH) {}

  /**
   * Writes the statuses if they differ from what this writer last wrote (the first call
   * always writes, replacing a previous run's file). Calls run one after another.
   * Resolves true when it wrote; rejects on an I/O error (the next call retries).
   */
  write(statuses: readonly EndpointStatus[]): Promise<boolean> {
    const content = renderEndpointStatusFile(statuses);
    const next = this.chain.then(async () => {
      if (content === this.lastWritten) return false;
      await writeFileAtomic(this.path, content);
      this.lastWritten = content;
      this.writes++;
      return true;
    });
    this.chain = next.catch(() => {});
    return next;
  }

  /** Resolves when the writes asked for so far are done. */
  async flush(): Promise<void> {
    await this.chain;
  }
}
