// Kernel access for nftables: one `nft -f -` transaction (the kernel applies
// the whole script or nothing, across all the tables it names) and the JSON
// listing of one of our tables in one family. The fake in fake-backend.ts implements the same interface in memory.

import { type ExecResult, lineOfParts, run } from "../iptables/exec.js";
import { runSpooled } from "../iptables/spool.js";
import type { NftCommand, NftSetKey } from "./commands.js";
import { NFT_TABLE } from "./names.js";
import type { NftView } from "./view.js";

/** The nft families of our tables: `ip` for IPv4, `ip6` for IPv6. */
export type NftFamily = "ip" | "ip6";

export function familyOf(ipVersion: 4 | 6): NftFamily {
  return ipVersion === 4 ? "ip" : "ip6";
}

export interface NftBackend {
  readonly family: NftFamily;
  /** Runs `script` as one transaction; throws NftError, changing nothing, when nft refuses it. */
  transact(script: string): Promise<void>;
  /**
   * transact() of a text given as parts that are rendered only as nft reads them (a cold load of
   * tens of MB: nft parses what came while the rest renders); `onSent` once nft has all of it.
   * A part that throws kills nft before it has its whole input, so nothing is written, and the
   * error is thrown. Without it, the syncer renders whole tables first and hands them to transact().
   */
  transactParts?(parts: Iterable<string>, onSent?: () => void): Promise<void>;
  /**
   * transact() with the script spooled to a file nft reads on its own (iptables/spool.ts): once
   * `onStarted` is called, nft needs nothing of ours (no turn of our event loop) until it ends.
   * Stage 1 of a cold start loads the nat tables so while the main thread ingests the rest.
   */
  transactSpooled?(script: string, onStarted: () => void): Promise<void>;
  /** `nft -j list table <family> <table>` (default `calico`), or undefined when there is no such table. */
  list(table?: string): Promise<string | undefined>;
  /**
   * Writes the commands as one transaction without nft (netlink/backend.ts);
   * `unsupported` when it cannot express one of them: nothing was written then,
   * and the caller runs the same transaction through transact(). Throws
   * NftError, changing nothing, when the kernel refuses it.
   */
  write?(commands: readonly NftCommand[], ctx: NftWriteContext): Promise<NftWriteResult>;
  /** Our table `table` (default `calico`) read without nft (netlink/read.ts); null when there is none. Used instead of list(). */
  readView?(table?: string): Promise<NftView | null>;
}

/** What the netlink encoder needs to know of our sets beyond the commands. */
export interface NftWriteContext {
  /** A set's key once the transaction is in (lookups in rules); `table` absent: `calico`. */
  readonly setKey: (name: string, table?: string) => NftSetKey | undefined;
  /** The elements a set holds before the transaction (undefined: none, or no such set). */
  readonly elementsBefore: (name: string, table?: string) => ReadonlySet<string> | undefined;
}

export type NftWriteResult = { readonly bytes: number } | { readonly unsupported: string };

/** A refused transaction or listing; `line` is the script line nft names, when it does. */
export class NftError extends Error {
  constructor(
    message: string,
    readonly lineNumber?: number,
    readonly line?: string,
  ) {
    super(message);
    this.name = "NftError";
  }
}

export class ExecNftBackend implements NftBackend {
  /** `prefix` runs nft through another program (`ip netns exec <ns>` in tests). */
  constructor(
    readonly family: NftFamily,
    private readonly prefix: readonly string[] = [],
  ) {}

  private nft(args: string[], input?: string | Iterable<string>, onInputSent?: () => void) {
    const [cmd, ...rest] = [...this.prefix, "nft", ...args];
    return run(cmd, rest, input, undefined, onInputSent ? { onInputSent } : {});
  }

  transact(script: string): Promise<void> {
    return this.load([script]);
  }

  transactParts(parts: Iterable<string>, onSent?: () => void): Promise<void> {
    return this.load(parts, onSent);
  }

  async transactSpooled(script: string, onStarted: () => void): Promise<void> {
    const [cmd, ...rest] = [...this.prefix, "nft", "-f", "-"];
    const r = await runSpooled(cmd, rest, [script], undefined, { onStarted });
    // No writable temporary directory: piped after all.
    if (!r) return this.load([script], onStarted);
    this.check(r, [script]);
  }

  private async load(parts: Iterable<string>, onSent?: () => void): Promise<void> {
    // What nft was sent, kept to quote the line it refuses.
    const sent: string[] = [];
    this.check(await this.nft(["-f", "-"], tee(parts, sent), onSent), sent);
  }

  /** Throws NftError for nft's refusal of `sent`, naming its line. */
  private check(r: ExecResult, sent: readonly string[]): void {
    if (r.code === 0) return;
    const stderr = r.stderr.trim();
    // nft names the place as `/dev/stdin:<line>:<from>-<to>: Error: …`.
    const m = /^\/dev\/stdin:(\d+):/m.exec(stderr);
    const lineNumber = m ? Number(m[1]) : undefined;
    const line = lineNumber ? lineOfParts(sent, lineNumber) : undefined;
    throw new NftError(`nft -f failed: ${stderr.slice(0, 2000)}`, lineNumber, line);
  }

  async list(table = NFT_TABLE): Promise<string | undefined> {
    const r = await this.nft(["-j", "list", "table", this.family, table]);
    if (r.code === 0) return r.stdout;
    if (/No such file or directory/.test(r.stderr)) return undefined;
    throw new NftError(`nft list table ${this.family} ${table} failed: ${r.stderr.trim()}`);
  }
}

function* tee(parts: Iterable<string>, into: string[]): Generator<string> {
  for (const p of parts) {
    into.push(p);
    yield p;
  }
}
