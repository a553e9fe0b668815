// The file datastore: a directory of manifests as a stream of resource-update
// batches. The first batch is the whole directory (the in-sync point); after
// that, with `watch`, each burst of file changes (events closer together than
// the quiet period) becomes one batch holding only the objects that changed.
//
// Cost is O(change): the watcher names the paths that changed; only those are
// stat'ed, and only a file whose signature (device, inode, size, mtime, ctime)
// differs is read and parsed; its objects are compared one by one with what
// downstream has. An event without a name, or a replaced root directory, leads
// to a full pass that still reads only files whose signature changed.
//
// Safety (see ManifestState and ManifestReader): a file that fails to parse,
// is refused (too large, not a regular file) or changes while being read keeps
// contributing what it last parsed; an unstable file is read again once quiet.
// A root directory that is replaced (moved away, re-created) is watched again
// and re-read; while it is missing the last state stays in force.

import { type FSWatcher, type Stats, statSync, watch } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { type ResourceUpdate, resourceKey } from "../../model/resource.js";
import { Observable } from "../../model/rx.js";
import { aheadDonePart, partialBatch, type UpdateBatch } from "./batch.js";
import { BurstTimer } from "./burst-timer.js";
import { holdsNoneOfKinds } from "./kinds-ahead.js";
import {
  DEFAULT_MAX_FILE_BYTES,
  type FileSig,
  fsManifestReader,
  type ManifestReader,
  type ReadResult,
  sameSig,
} from "./manifest-reader.js";
import { type HeldObject, holdObject, ManifestState } from "./manifest-state.js";
import { listManifestFiles, type ManifestProblem, parseManifestText } from "./manifests.js";

const MANIFEST_NAME = /\.(ya?ml|json)$/i;

/** The quiet period that closes a burst of file events, by default. */
export const DEFAULT_DEBOUNCE_MS = 20;

export interface FileDatastoreOptions {
  readonly dir: string;
  readonly watch: boolean;
  /** Quiet period that closes a burst of file events into one batch (default DEFAULT_DEBOUNCE_MS). */
  readonly debounceMs?: number;
  /** A lone write's shorter quiet period (default 2 ms; burst-timer.ts). */
  readonly loneMs?: number;
  /** A burst never delays a batch longer than this (default 1 s). */
  readonly maxDelayMs?: number;
  /**
   * Policies (and FelixConfiguration) that vanish from a file that still
   * exists are withdrawn only once a read this much later confirms it
   * (default 500 ms): a writer that paused mid-file never withdraws the
   * policies after the pause. 0: at once.
   */
  readonly confirmDropMs?: number;
  /** How often the root directory is checked for having been replaced (default 1 s; 0 disables). */
  readonly rootCheckMs?: number;
  readonly maxFileBytes?: number;
  readonly reader?: ManifestReader;
  readonly onProblem?: (p: ManifestProblem) => void;
  readonly onIgnored?: (i: { file: string; line?: number; kind: string }) => void;
}

const ALL = "\0all";
const UNSTABLE_RETRIES = 3;
/**
 * Kinds whose withdrawal can widen access (a policy gone, Felix's settings
 * back to defaults): dropped from a file that stays, they wait for a
 * confirming read. Anything else withdrawn fails closed (a pod leaves the
 * sets that allow it, a namespace's pods lose its profile) and goes at once.
 */
const WIDENS_WHEN_GONE = new Set<string>([
  "NetworkPolicy",
  "FelixConfiguration",
  // A Calico Deny gone, or a tier gone (its policies move to the last tier), can open traffic.
  "CalicoNetworkPolicy",
  "GlobalNetworkPolicy",
  "Tier",
  "ClusterNetworkPolicy",
]);
const UNSTABLE_WAIT_MS = 10;
/** Files read ahead of their turn in a pass, while earlier ones are parsed in order (sequential reads idled ~0.7 s at large). */
const READ_AHEAD = 8;
/** A pass over at most this many named paths reads on the main thread (ManifestReader.now). */
const NAMED_NOW_MAX = 8;

/** A file's signature and, when that differs from the one known, its content: fetched ahead of its turn. */
interface Fetched {
  /** Undefined for a file read without a stat first (never read before): nothing to compare. */
  readonly sig?: FileSig;
  readonly read?: ReadResult;
}

export class FileDatastore {
  private readonly state: ManifestState;
  private readonly reader: ManifestReader;
  /** This pass's reader: `reader`, or its `now` for a pass over a few named paths. */
  private io: ManifestReader;
  /** Paths (absolute) named by events since the last pass; ALL for a full pass. */
  private dirty = new Set<string>();
  /** Files whose last read dropped objects, held until confirmed: the read's signature, objects and time. */
  private readonly pendingDrops = new Map<string, { sig: FileSig; held: HeldObject[]; at: number }>();
  private rootIno: number | undefined;
  /** Tells the watching side that a directory appeared (watch it) or went away. */
  private onDirectory: (dir: string, present: boolean) => void = () => {};
  private rootMissing = false;

  constructor(private readonly o: FileDatastoreOptions) {
    this.reader = o.reader ?? fsManifestReader;
    this.io = this.reader;
    this.state = new ManifestState((p) => o.onProblem?.(p));
  }

  /**
   * Batches of updates; errors only when the directory cannot be read at the
   * start. With `partial`, the first batch comes in parts, one per file that
   * held objects, each but the last marked partial (batch.ts). With `ahead`
   * too, the files that may hold those kinds come first, then an empty part
   * marked `aheadDone`, then the files that provably hold none of them
   * (kinds-ahead.ts): each group in path order, the same objects and winners
   * as without.
   */
  updates(o: { readonly partial?: boolean; readonly ahead?: ReadonlySet<string> } = {}): Observable<UpdateBatch> {
    return new Observable<UpdateBatch>((sub) => {
      let rootTimer: NodeJS.Timeout | undefined;
      let confirmTimer: NodeJS.Timeout | undefined;
      let running: Promise<void> = Promise.resolve();
      let closed = false;
      const pass = () => {
        running = running.then(async () => {
          if (closed) return;
          try {
            const batch = await this.sync();
            if (batch.length > 0 && !closed) sub.next(batch);
          } catch (e) {
            // The directory went away mid-pass: keep the last state; the root check takes over.
            this.o.onProblem?.({ file: this.o.dir, message: `cannot read the directory: ${(e as Error).message}` });
            this.rootIno = undefined;
          }
          if (this.dirty.size > 0 && !closed) schedule();
          if (this.pendingDrops.size > 0 && !closed && !confirmTimer) {
            confirmTimer = setTimeout(() => {
              confirmTimer = undefined;
              for (const f of this.pendingDrops.keys()) this.dirty.add(f);
              schedule();
            }, this.confirmDropMs);
          }
        });
      };
      const timer = new BurstTimer(pass, {
        quietMs: this.o.debounceMs ?? DEFAULT_DEBOUNCE_MS,
        loneMs: this.o.loneMs ?? 2,
        maxDelayMs: this.o.maxDelayMs ?? 1000,
        isManifest: (p) => MANIFEST_NAME.test(p),
      });
      const schedule = () => timer.schedule();
      // One non-recursive watch per directory: inotify names every entry that
      // changes, a file renamed over another included (Node 20's recursive
      // watch loses a file's events once it has been replaced by a rename).
      const watchers = new Map<string, FSWatcher>();
      const watchDir = (dir: string) => {
        if (watchers.has(dir) || closed) return;
        try {
          const w = watch(dir, (_e, name) => {
            const path = name ? join(dir, name.toString()) : undefined;
            this.dirty.add(path ?? ALL);
            timer.event(path);
          });
          // A directory gone: its watch ends; the root check covers the root.
          w.on("error", () => unwatchDir(dir));
          watchers.set(dir, w);
        } catch {
          // Gone already: the event that named it leads to a pass that notices.
        }
      };
      const unwatchDir = (dir: string) => {
        for (const [d, w] of watchers) {
          if (d === dir || d.startsWith(dir + sep)) {
            w.close();
            watchers.delete(d);
          }
        }
        if (dir === this.o.dir) this.rootIno = undefined;
      };
      this.onDirectory = (dir, present) => (present ? watchDir(dir) : unwatchDir(dir));
      const startWatch = async (ino: number) => {
        unwatchDir(this.o.dir);
        this.rootIno = ino; // after unwatchDir, which forgets it (else every root check found it new: a full pass a second)
        watchDir(this.o.dir);
        for (const d of await listDirectories(this.o.dir)) watchDir(d);
      };
      // The root replaced or re-created: watch the new one and compare everything.
      const checkRoot = async () => {
        const ino = await stat(this.o.dir).then(
          (s) => (s.isDirectory() ? s.ino : undefined),
          () => undefined,
        );
        if (closed) return;
        if (ino === undefined) {
          if (!this.rootMissing) this.o.onProblem?.({ file: this.o.dir, message: missingMessage });
          this.rootMissing = true;
          return;
        }
        if (ino === this.rootIno && watchers.has(this.o.dir)) return;
        this.rootMissing = false;
        await startWatch(ino).catch(() => undefined);
        this.dirty.add(ALL);
        schedule();
      };

      // Watch before the first scan: a change made right after the in-sync
      // batch (or during the scan) must not slip between scan and watch.
      running = running.then(async () => {
        try {
          if (this.o.watch) {
            await startWatch((await stat(this.o.dir)).ino);
          }
          this.dirty.add(ALL);
          const part = o.partial ? (b: ResourceUpdate[]) => sub.next(partialBatch(b)) : undefined;
          sub.next(await this.sync(part, o.ahead)); // even when empty: this is the in-sync point
          if (!this.o.watch) sub.complete();
          else if (this.dirty.size > 0) schedule();
          if (this.o.watch && (this.o.rootCheckMs ?? 1000) > 0) {
            rootTimer = setInterval(() => void checkRoot(), this.o.rootCheckMs ?? 1000);
          }
        } catch (e) {
          sub.error(e);
        }
      });

      return () => {
        closed = true;
        timer.stop();
        clearInterval(rootTimer);
        clearTimeout(confirmTimer);
        for (const w of watchers.values()) w.close();
        watchers.clear();
      };
    });
  }

  /**
   * Brings the state up to date with the dirty paths; returns what changed.
   * With `part`, a full pass hands over each file's objects as it goes and
   * returns the rest: while nothing was known before (the first pass), a later
   * file can only add objects or win over an earlier file's (its path sorts
   * last), which downstream takes as one more update.
   */
  private async sync(part?: (b: ResourceUpdate[]) => void, ahead?: ReadonlySet<string>): Promise<ResourceUpdate[]> {
    const dirty = this.dirty;
    this.dirty = new Set();
    const retry = new Set<string>();
    // A write or two: no thread-pool trips to wait for. A full pass reads ahead on the pool.
    this.io = !dirty.has(ALL) && dirty.size <= NAMED_NOW_MAX ? (this.reader.now ?? this.reader) : this.reader;
    if (dirty.has(ALL)) {
      const files = await listManifestFiles(this.o.dir);
      const present = new Set(files);
      for (const f of [...this.state.knownFiles()]) if (!present.has(f)) this.state.removeFile(f);
      const first = part && this.state.knownFiles().next().done;
      await this.checkAll(files, retry, first ? part : undefined, first ? ahead : undefined);
    } else {
      for (const path of [...dirty].sort()) await this.checkPath(path, retry);
    }
    // Files still being written are read again after the next quiet period.
    for (const f of retry) this.dirty.add(f);
    const batch = this.state.takeBatch();
    // A duplicate's other definition now wins and its value is not held: read its file again.
    for (let round = 0; round < 3 && this.state.rereads.size > 0; round++) {
      const files = [...this.state.rereads];
      this.state.rereads.clear();
      for (const f of files) {
        this.state.forgetSig(f);
        await this.check(f, retry);
      }
      batch.push(...this.state.takeBatch());
    }
    return batch;
  }

  /** A path an event named: a manifest file, or a directory (created, moved, removed) to compare as a subtree. */
  private async checkPath(path: string, retry: Set<string>): Promise<void> {
    const s = this.io === this.reader ? await stat(path).catch(() => undefined) : statOrUndefined(path);
    if (s?.isDirectory()) {
      this.onDirectory(path, true);
      for (const d of await listDirectories(path).catch(() => [])) this.onDirectory(d, true);
      const files = new Set(await listManifestFiles(path).catch(() => []));
      for (const f of this.knownUnder(path)) if (!files.has(f)) this.state.removeFile(f);
      await this.checkAll([...files], retry);
      return;
    }
    if (!s) {
      // Perhaps a directory removed or moved away.
      this.onDirectory(path, false);
      for (const f of this.knownUnder(path)) this.state.removeFile(f);
    }
    const base = path.slice(path.lastIndexOf(sep) + 1);
    if (MANIFEST_NAME.test(base) && !base.startsWith(".")) await this.check(path, retry);
  }

  private get confirmDropMs(): number {
    return this.o.confirmDropMs ?? 500;
  }

  private knownUnder(dir: string): string[] {
    const prefix = dir.endsWith(sep) ? dir : dir + sep;
    return [...this.state.knownFiles()].filter((f) => f.startsWith(prefix));
  }

  /**
   * check() for each file in order, fetched up to READ_AHEAD ahead: only a file's own check changes
   * what its fetch reads. With `kinds` (the first pass, in parts): the files that provably hold none
   * of those kinds are kept fetched until the others are in (see updates()).
   */
  private async checkAll(
    files: readonly string[],
    retry: Set<string>,
    part?: (b: ResourceUpdate[]) => void,
    kinds?: ReadonlySet<string>,
  ): Promise<void> {
    const ahead: Promise<Fetched>[] = [];
    const later: [string, Promise<Fetched>][] = [];
    let next = 0;
    const checked = async (f: string, fetched: Promise<Fetched> | undefined) => {
      await this.check(f, retry, fetched);
      if (part && this.state.rereads.size === 0) {
        const b = this.state.takeBatch();
        if (b.length > 0) part(b);
      }
    };
    for (const f of files) {
      while (next < files.length && ahead.length < READ_AHEAD) {
        const p = this.fetch(files[next++]);
        p.catch(() => {}); // a pass that stops early leaves no unhandled rejection behind
        ahead.push(p);
      }
      const fetched = ahead.shift();
      const read = kinds && (await fetched)?.read;
      if (kinds && read?.status === "ok" && holdsNoneOfKinds(f, read.text, kinds)) later.push([f, fetched!]);
      else await checked(f, fetched);
    }
    const marked = later.length > 0 && later.length < files.length;
    if (marked) part?.(aheadDonePart([]));
    // Each text let go once parsed.
    for (let l = later.shift(); l; l = later.shift()) {
      // Fetched already, the checks would run as one chain of microtasks: let I/O in between (the
      // consumer may be writing to the kernel what the files read ahead held).
      if (marked) await new Promise((resolve) => setImmediate(resolve));
      await checked(l[0], l[1]);
    }
  }

  /** The file's signature, and its content when there is something new to read. */
  private async fetch(path: string): Promise<Fetched> {
    const maxBytes = this.o.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    // A file never read (every file at start-up) is read at once: its stat could only say "read it".
    if (!this.state.sig(path) && !this.pendingDrops.has(path)) return { read: await this.io.read(path, maxBytes) };
    const sig = await this.io.sig(path);
    const pending = this.pendingDrops.get(path);
    if (pending && sameSig(pending.sig, sig)) return { sig };
    const known = this.state.sig(path);
    if (known && sameSig(known, sig)) return { sig };
    return { sig, read: await this.io.read(path, maxBytes) };
  }

  /** Reads and parses one file if its signature changed (`fetched`: what fetch() found for it already). */
  private async check(path: string, retry: Set<string>, fetched?: Promise<Fetched>): Promise<void> {
    const { sig: current, read } = await (fetched ?? this.fetch(path));
    const pending = this.pendingDrops.get(path);
    if (pending && sameSig(pending.sig, current)) {
      if (performance.now() - pending.at >= this.confirmDropMs) {
        this.pendingDrops.delete(path);
        this.state.setFile(path, pending.held, pending.sig);
      }
      return;
    }
    this.pendingDrops.delete(path);
    const known = this.state.sig(path);
    if ((known && sameSig(known, current)) || read === undefined) return;
    const file = relative(process.cwd(), path) || path;
    let r = read;
    // A writer at work: give it a moment before putting the file off to the next pass.
    for (let i = 0; i < UNSTABLE_RETRIES && r.status === "unstable"; i++) {
      await new Promise((resolve) => setTimeout(resolve, UNSTABLE_WAIT_MS));
      r = await this.io.read(path, this.o.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
    }
    switch (r.status) {
      case "missing":
        this.state.removeFile(path);
        return;
      case "unstable":
        retry.add(path);
        return;
      case "refused":
        this.o.onProblem?.({ file, message: r.message });
        this.state.keepFile(path, r.sig);
        return;
    }
    const parsed = parseManifestText(r.text, file);
    for (const p of parsed.problems) this.o.onProblem?.(p);
    for (const i of parsed.ignored) this.o.onIgnored?.(i);
    // A file with a syntax error keeps its previous objects.
    if (parsed.problems.some((p) => p.message.startsWith("invalid"))) {
      this.state.keepFile(path, r.sig);
      return;
    }
    const fresh = parsed.updates.map((u) => holdObject(u, this.o.watch));
    const held = this.state.objectsOf(path);
    const now = new Set(parsed.updates.map(resourceKey));
    const dropped =
      held && this.confirmDropMs > 0
        ? [...held].filter(([k, h]) => !now.has(k) && WIDENS_WHEN_GONE.has(h.kind)).map(([, h]) => h)
        : [];
    if (dropped.length > 0) {
      // Keep the dropped objects until a later read confirms them gone.
      this.pendingDrops.set(path, { sig: r.sig, held: fresh, at: performance.now() });
      this.state.setFile(path, [...fresh, ...dropped], r.sig);
    } else this.state.setFile(path, fresh, r.sig);
  }
}

/** Every directory under `dir`, recursively. */
async function listDirectories(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

const missingMessage = "the manifest directory is gone: keeping the last state until it is back";

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
