// What the file datastore knows: per file, the objects it last parsed (and the
// file's signature when read); per object, the files defining it; and what
// downstream has been told. Changing one file touches only its own objects:
// the diff compares those keys alone, object by object.
//
// Objects are held as digests (sha1 of their JSON), not as parsed values: the
// graph keeps what it needs, and holding the whole parsed directory cost the
// daemon ~70 MB at the large preset. A value lives here only from its file's
// read to the next batch; when a duplicate's other definition must be sent and
// its value is gone, its file is read again (`rereads`).
//
// When two files define the same object, the one whose path sorts last wins;
// the duplicate is reported when it appears. A file that stops parsing keeps
// the objects it held (fail closed: a policy never vanishes mid-edit).

import { hash } from "node:crypto";
import { internalized } from "../../model/own-string.js";
import { type ResourceUpdate, resourceKey } from "../../model/resource.js";
import type { FileSig } from "./manifest-reader.js";
import type { ManifestProblem } from "./manifests.js";

/**
 * An object as a file holds it: its identity, where it is, its digest; its value only until the
 * next batch. One flat record (the update and its source as objects of their own were 2.2 MB more at
 * the large preset's 22,500 objects); `updateOf` makes the update when one is sent.
 */
export interface HeldObject {
  readonly kind: ResourceUpdate["kind"];
  readonly namespace: string;
  readonly name: string;
  readonly file?: string;
  readonly line?: number;
  readonly digest: string;
  value?: ResourceUpdate["value"];
}

interface FileEntry {
  sig?: FileSig;
  objects: Map<string, HeldObject>;
}

/** `digest: false` when nothing will ever be compared (a single read, `--once`): it costs ~0.3 s at large. */
export const holdObject = (u: ResourceUpdate, digest = true): HeldObject => ({
  kind: u.kind,
  namespace: u.namespace,
  name: u.name,
  file: u.source?.file,
  line: u.source?.line,
  digest: digest ? hash("sha1", JSON.stringify(u.value), "base64") : "",
  value: u.value,
});

/** The update that sends `h` with `value` (null: deleted). */
export function updateOf(h: HeldObject, value: ResourceUpdate["value"]): ResourceUpdate {
  const { kind, namespace, name, file, line } = h;
  if (file === undefined) return { kind, namespace, name, value };
  return { kind, namespace, name, value, source: line === undefined ? { file } : { file, line } };
}

/** A key's defining files, sorted (the last one wins): one file as itself, the usual case (an array each was 1.2 MB at large). */
type Owners = string | string[];
const lastOf = (o: Owners | undefined): string | undefined => (typeof o === "string" ? o : o?.at(-1));

export class ManifestState {
  private readonly files = new Map<string, FileEntry>();
  /** resource key → the files defining it. */
  private readonly owners = new Map<string, Owners>();
  private readonly emitted = new Map<string, HeldObject>();
  /** Keys whose winner may have changed since the last `takeBatch`, in the order they were touched. */
  private touched = new Set<string>();
  /** Objects holding a value until the next batch. */
  private withValues: HeldObject[] = [];
  /** Files to read again: a winner whose value is no longer held. */
  readonly rereads = new Set<string>();

  constructor(private readonly report: (p: ManifestProblem) => void) {}

  knownFiles(): IterableIterator<string> {
    return this.files.keys();
  }

  /** The objects a file holds now. */
  objectsOf(file: string): ReadonlyMap<string, HeldObject> | undefined {
    return this.files.get(file)?.objects;
  }

  sig(file: string): FileSig | undefined {
    return this.files.get(file)?.sig;
  }

  /** Forgets a file's signature, so that the next check reads it. */
  forgetSig(file: string): void {
    const e = this.files.get(file);
    if (e) e.sig = undefined;
  }

  /** The file now holds exactly `objects` (its last good parse). */
  setFile(file: string, held: readonly HeldObject[], sig: FileSig | undefined): void {
    const entry = this.files.get(file);
    const objects = new Map<string, HeldObject>();
    for (const h of held) {
      // One flat copy, shared by the maps below (a rope of three parts, flattened, stayed as four strings).
      const key = internalized(resourceKey(h));
      const earlier = objects.get(key);
      if (earlier) this.duplicate(key, h, file, earlier, file);
      objects.set(key, h);
      if (h.value !== undefined) this.withValues.push(h);
    }
    if (entry) {
      for (const key of entry.objects.keys()) {
        if (!objects.has(key)) this.disown(key, file);
        else if (entry.objects.get(key) !== objects.get(key)) this.touched.add(key);
      }
    }
    for (const [key, h] of objects) {
      if (!entry?.objects.has(key)) this.own(key, file, h);
      this.touched.add(key);
    }
    this.files.set(file, { sig, objects });
  }

  /** The file did not parse (or was refused): it keeps what it held; remember this version so it is not read again. */
  keepFile(file: string, sig: FileSig | undefined): void {
    const entry = this.files.get(file);
    if (entry) entry.sig = sig;
    else this.files.set(file, { sig, objects: new Map() });
  }

  removeFile(file: string): void {
    const entry = this.files.get(file);
    if (!entry) return;
    this.files.delete(file);
    for (const key of entry.objects.keys()) this.disown(key, file);
  }

  /**
   * The updates that bring downstream to the current state of the touched
   * objects. A winner whose value is gone stays touched and its file is
   * listed in `rereads`: read it, then take a batch again.
   */
  takeBatch(): ResourceUpdate[] {
    const batch: ResourceUpdate[] = [];
    const stillTouched = new Set<string>();
    for (const key of this.touched) {
      const winner = lastOf(this.owners.get(key));
      const h = winner === undefined ? undefined : this.files.get(winner)?.objects.get(key);
      const prev = this.emitted.get(key);
      if (h) {
        // Without digests (holdObject's `digest: false`, `--once`) another held object is another value:
        // two empty digests compared equal, and a duplicate's later file lost to the earlier one.
        if (!prev || (h.digest === "" ? prev !== h : prev.digest !== h.digest)) {
          if (h.value === undefined) {
            this.rereads.add(winner!);
            stillTouched.add(key);
            continue;
          }
          batch.push(updateOf(h, h.value));
        }
        this.emitted.set(key, h);
      } else if (prev) {
        batch.push(updateOf(prev, null));
        this.emitted.delete(key);
      }
    }
    this.touched = stillTouched;
    for (const h of this.withValues) h.value = undefined;
    this.withValues = [];
    return batch;
  }

  private own(key: string, file: string, h: HeldObject): void {
    const owners = this.owners.get(key);
    if (owners === undefined) {
      this.owners.set(key, file);
      return;
    }
    const other = lastOf(owners)!;
    this.duplicate(key, h, file, this.files.get(other)?.objects.get(key), other);
    this.owners.set(key, [...(typeof owners === "string" ? [owners] : owners), file].sort());
  }

  private disown(key: string, file: string): void {
    this.touched.add(key);
    const owners = this.owners.get(key);
    if (owners === undefined) return;
    const rest = (typeof owners === "string" ? [owners] : owners).filter((f) => f !== file);
    if (rest.length === 0) this.owners.delete(key);
    else this.owners.set(key, rest.length === 1 ? rest[0] : rest);
  }

  private duplicate(key: string, h: HeldObject, file: string, other: HeldObject | undefined, otherFile: string): void {
    const where = other?.file ? `${other.file}${other.line ? `:${other.line}` : ""}` : otherFile;
    this.report({
      file: h.file ?? file,
      line: h.line,
      message: `${key} is also defined in ${where}; ${file >= otherFile ? "this definition wins" : "that one wins (its path sorts last)"}`,
    });
  }
}
