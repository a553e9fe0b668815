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

import { close, constants, fstat, open, read, type Stats } from "node:fs";
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
}

const toSig = (s: FileSig): FileSig => ({
  dev: s.dev,
  ino: s.ino,
  size: s.size,
  mtimeMs: s.mtimeMs,
  ctimeMs: s.ctimeMs,
});

export const fsManifestReader: ManifestReader = {
  async sig(path) {
    try {
      const s = await stat(path);
      return s.isFile() ? toSig(s) : undefined;
    } catch {
      return undefined;
    }
  },

  async read(path, maxBytes) {
    let fd: number;
    try {
      fd = await call<number>((cb) => open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY, cb));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return { status: "missing" };
      return { status: "refused", message: `cannot read: ${(e as Error).message}` };
    }
    try {
      const before = await call<Stats>((cb) => fstat(fd, cb));
      if (!before.isFile())
        return { status: "refused", message: "not a regular file (FIFO, device or socket): skipped" };
      if (before.size > maxBytes)
        return { status: "refused", message: tooLarge(before.size, maxBytes), sig: toSig(before) };
      // One byte past the limit tells a file that grew meanwhile.
      const buf = Buffer.allocUnsafe(Math.min(before.size, maxBytes) + 1);
      let n = 0;
      for (;;) {
        const bytesRead = await call<number>((cb) => read(fd, buf, n, buf.length - n, n, cb));
        if (bytesRead === 0) break;
        n += bytesRead;
        // Every byte fstat counted: no read to meet the end, the second fstat tells a file that changed.
        if (n === buf.length || n === before.size) break;
      }
      const after = await call<Stats>((cb) => fstat(fd, cb));
      if (n > maxBytes) return { status: "refused", message: tooLarge(after.size, maxBytes), sig: toSig(after) };
      if (!sameSig(toSig(before), toSig(after)) || n !== after.size) return { status: "unstable" };
      return { status: "ok", text: buf.toString("utf8", 0, n), sig: toSig(after) };
    } catch (e) {
      return { status: "refused", message: `cannot read: ${(e as Error).message}` };
    } finally {
      // Not awaited: the text is complete, the pass goes on while the descriptor closes.
      close(fd, () => {});
    }
  },
};

/** One callback-API call as a promise (its first result). */
function call<T>(start: (cb: (e: NodeJS.ErrnoException | null, r: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => start((e, r) => (e ? reject(e) : resolve(r))));
}

function tooLarge(size: number, max: number): string {
  return `file is ${size} bytes, over the limit of ${max} (FELIX_MANIFESTMAXFILEBYTES): skipped`;
}
