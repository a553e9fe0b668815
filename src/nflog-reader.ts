// Reads one NFLOG group of this network namespace through src/dump/nflog-listen.py
// (netlink NFLOG, one JSON line per logged packet): what `felix-dump drops --live`
// prints and what the agent counts in felix_denied_packets_total.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export interface NflogPacket {
  readonly prefix: string;
  readonly family?: 4 | 6;
  readonly src?: string;
  readonly dst?: string;
  readonly protocol?: string;
  readonly sport?: number;
  readonly dport?: number;
  readonly indev?: string;
  readonly outdev?: string;
}

export interface NflogReader {
  /** Resolves when the group is bound (rejects if the listener exits first). */
  readonly ready: Promise<void>;
  /** Resolves with the listener's exit code and its error output. */
  readonly exited: Promise<{ code: number | null; stderr: string }>;
  stop(): void;
}

/** The listener script, in src/dump/ (found from dist/ too). */
export function nflogListener(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  return [join(here, "dump", "nflog-listen.py"), resolve(here, "../../src/dump/nflog-listen.py")].find(existsSync);
}

export function readNflog(group: number, onPacket: (p: NflogPacket) => void): NflogReader {
  const script = nflogListener();
  if (!script) throw new Error("src/dump/nflog-listen.py not found");
  const child = spawn("python3", [script, String(group)], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; stderr: string }>((res) =>
    child.on("close", (code) => res({ code, stderr })),
  );
  let markReady: () => void = () => {};
  const ready = new Promise<void>((res, rej) => {
    markReady = res;
    void exited.then((e) => rej(new Error(`NFLOG listener exited ${e.code}: ${e.stderr.trim()}`)));
  });
  ready.catch(() => {}); // a caller that never awaits it must not see an unhandled rejection
  void (async () => {
    for await (const line of createInterface({ input: child.stdout })) {
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(line);
      } catch {
        continue;
      }
      if ("listening" in j) markReady();
      else onPacket(j as unknown as NflogPacket);
    }
  })();
  return { ready, exited, stop: () => void child.kill("SIGTERM") };
}
