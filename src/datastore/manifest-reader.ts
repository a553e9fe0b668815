// Reading one manifest file safely: the file datastore's only access to file
// contents, behind an interface so tests can count (or fake) the reads.
//
//   - opened O_NONBLOCK and checked with fstat: a FIFO or device that takes a
//     file's place never blocks a libuv thread, it is refused;
//   - refused when larger than the size limit, and never read past it (a file
//     that grows while being read is cut at the limit and refused);
//   - stat'ed again after reading: a file that changed meanwhile (a writer
//     still at work) is reported unstable, to be read again once quiet;
//   - four trips through libuv's thread pool (open, fstat, read, fstat; the
//     close goes on after): while V8's collector threads hold both cores of a
//     small node, each trip waits for one (8 ms each were seen at `large`).
//     The trips go through fs's callback API: fs/promises' FileHandle costs
//     about twice the CPU per trip (a FileHandle object, a promise and its
//     reaction per call: ~0.15 s of a `large` cold start's 1,149 files).
//   - `now`: the same calls made on the main thread, for a pass over the few
//     files a watcher named (one write: a stat and a read of one file, tens of
//     microseconds from the page cache). There the thread pool's trips were the
//     wait: at `large`, a change's file reached the graph 7 ms after the write
//     on average, and 40-90 ms when V8's concurrent marking held both cores.

import {
  close,
  closeSync,
  constants,
  fstat,
  fstatSync,
  open,
  openSync,
  read,
  readSync,
  type Stats,
  statSync,
} from "node:fs";
import { stat } from "node:fs/promises";

/** Default per-file size limit: 16 MiB (FELIX_MANIFESTMAXFILEBYTES). */
export const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;
/** FELIX_MANIFESTMAXFILEBYTES (felix-ts's own): the per-file size limit in bytes. */
export function maxFileBytesFromEnv(env: NodeJS.ProcessEnv): number {
  const v = env.FELIX_MANIFESTMAXFILEBYTES;
  if (v === undefined || v === "") return DEFAULT_MAX_FILE_BYTES;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new Error(`FELIX_MANIFESTMAXFILEBYTES must be a positive whole number, not ${v}`);
  return n;
}

/** What identifies a version of a file without reading it. */
export interface FileSig {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

export const sameSig = (a: FileSig | undefined, b: FileSig | undefined): boolean =>
  a !== undefined &&
  b !== undefined &&
  a.dev === b.dev &&
  a.ino === b.ino &&
  a.size === b.size &&
  a.mtimeMs === b.mtimeMs &&
  a.ctimeMs === b.ctimeMs;

export type ReadResult =
  | { readonly status: "ok"; readonly text: string; readonly sig: FileSig }
  | { readonly status: "missing" }
  /** Not a regular file, too large, unreadable: reported, contributes nothing new. */
  | { readonly status: "refused"; readonly message: string; readonly sig?: FileSig }
  /** Changed while being read. */
  | { readonly status: "unstable" };

export interface ManifestReader {
  /** The file's signature without reading it; undefined when it is gone or not a regular file. */
  sig(path: string): Promise<FileSig | undefined>;
  read(path: string, maxBytes: number): Promise<ReadResult>;
  /** The same reader without the thread pool (a pass over a few named files), if it has one. */
  readonly now?: ManifestReader;
}

const toSig = (s: FileSig): FileSig => ({
  dev: s.dev,
  ino: s.ino,
  size: s.size,
  mtimeMs: s.mtimeMs,
  ctimeMs: s.ctimeMs,
});

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

function openFailed(e: unknown): ReadResult {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR") return { status: "missing" };
  return { status: "refused", message: `cannot read: ${(e as Error).message}` };
}

/** The first fstat's verdict: a refusal, or the buffer to read into (one byte past the limit tells a file that grew). */
function admit(before: Stats, maxBytes: number): ReadResult | Buffer {
  if (!before.isFile()) return { status: "refused", message: "not a regular file (FIFO, device or socket): skipped" };
  if (before.size > maxBytes)
    return { status: "refused", message: tooLarge(before.size, maxBytes), sig: toSig(before) };
  return Buffer.allocUnsafe(Math.min(before.size, maxBytes) + 1);
}

/** Every byte fstat counted: no read to meet the end, the second fstat tells a file that changed. */
const readDone = (n: number, buf: Buffer, before: Stats) => n === buf.length || n === before.size;

function finish(before: Stats, after: Stats, buf: Buffer, n: number, maxBytes: number): ReadResult {
  if (n > maxBytes) return { status: "refused", message: tooLarge(after.size, maxBytes), sig: toSig(after) };
  if (!sameSig(toSig(before), toSig(after)) || n !== after.size) return { status: "unstable" };
  return { status: "ok", text: buf.toString("utf8", 0, n), sig: toSig(after) };
}

const cannotRead = (e: unknown): ReadResult => ({ status: "refused", message: `cannot read: ${(e as Error).message}` });

function sigOf(s: Stats): FileSig | undefined {
  return s.isFile() ? toSig(s) : undefined;
}

/** fsManifestReader's calls on the main thread. */
const fsManifestReaderNow: ManifestReader = {
  async sig(path) {
    try {
      return sigOf(statSync(path));
    } catch {
      return undefined;
    }
  },

  async read(path, maxBytes) {
    let fd: number;
    try {
      fd = openSync(path, OPEN_FLAGS);
    } catch (e) {
      return openFailed(e);
    }
    try {
      const before = fstatSync(fd);
      const buf = admit(before, maxBytes);
      if (!Buffer.isBuffer(buf)) return buf;
      let n = 0;
      for (;;) {
        const bytesRead = readSync(fd, buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
        if (readDone(n, buf, before)) break;
      }
      return finish(before, fstatSync(fd), buf, n, maxBytes);
    } catch (e) {
      return cannotRead(e);
    } finally {
      closeSync(fd);
    }
  },
};

export const fsManifestReader: ManifestReader = {
  async sig(path) {
    try {
      return sigOf(await stat(path));
    } catch {
      return undefined;
    }
  },

  async read(path, maxBytes) {
    let fd: number;
    try {
      fd = await call<number>((cb) => open(path, OPEN_FLAGS, cb));
    } catch (e) {
      return openFailed(e);
    }
    try {
      const before = await call<Stats>((cb) => fstat(fd, cb));
      const buf = admit(before, maxBytes);
      if (!Buffer.isBuffer(buf)) return buf;
      let n = 0;
      for (;;) {
        const bytesRead = await call<number>((cb) => read(fd, buf, n, buf.length - n, n, cb));
        if (bytesRead === 0) break;
        n += bytesRead;
        if (readDone(n, buf, before)) break;
      }
      return finish(before, await call<Stats>((cb) => fstat(fd, cb)), buf, n, maxBytes);
    } catch (e) {
      return cannotRead(e);
    } finally {
      // Not awaited: the text is complete, the pass goes on while the descriptor closes.
      close(fd, () => {});
    }
  },

  now: fsManifestReaderNow,
};

/** One callback-API call as a promise (its first result). */
function call<T>(start: (cb: (e: NodeJS.ErrnoException | null, r: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => start((e, r) => (e ? reject(e) : resolve(r))));
}

function tooLarge(size: number, max: number): string {
  return `file is ${size} bytes, over the limit of ${max} (FELIX_MANIFESTMAXFILEBYTES): skipped`;
}
