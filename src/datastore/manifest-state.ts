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
import { type ResourceUpdate, resourceKey } from "../../model/resource.js";
import type { FileSig } from "./manifest-reader.js";
import type { ManifestProblem } from "./manifests.js";

/** An object as a file holds it: its identity, where it is, its digest; its value only until the next batch. */
export interface HeldObject {
  readonly update: Omit<ResourceUpdate, "value">;
  readonly digest: string;
  value?: ResourceUpdate["value"];
}

interface FileEntry {
  sig?: FileSig;
  objects: Map<string, HeldObject>;
}

/** `digest: false` when nothing will ever be compared (a single read, `--once`): it costs ~0.3 s at large. */
export const holdObject = (u: ResourceUpdate, digest = true): HeldObject => ({
  update: { kind: u.kind, namespace: u.namespace, name: u.name, source: u.source },
  digest: digest ? hash("sha1", JSON.stringify(u.value), "base64") : "",
  value: u.value,
});

export class ManifestState {
  private readonly files = new Map<string, FileEntry>();
  /** resource key → the files defining it, sorted (the last one wins). */
  private readonly owners = new Map<string, string[]>();
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
      const key = resourceKey(h.update);
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
      const winner = this.owners.get(key)?.at(-1);
      const h = winner === undefined ? undefined : this.files.get(winner)?.objects.get(key);
      const prev = this.emitted.get(key);
      if (h) {
        if (!prev || prev.digest !== h.digest) {
          if (h.value === undefined) {
            this.rereads.add(winner!);
            stillTouched.add(key);
            continue;
          }
          batch.push({ ...h.update, value: h.value });
        }
        this.emitted.set(key, h);
      } else if (prev) {
        batch.push({ ...prev.update, value: null });
        this.emitted.delete(key);
      }
    }
    this.touched = stillTouched;
    for (const h of this.withValues) h.value = undefined;
    this.withValues = [];
    return batch;
  }

  private own(key: string, file: string, h: HeldObject): void {
    const list = this.owners.get(key);
    if (!list) {
      this.owners.set(key, [file]);
      return;
    }
    const other = list.at(-1)!;
    this.duplicate(key, h, file, this.files.get(other)?.objects.get(key), other);
    list.push(file);
    list.sort();
  }

  private disown(key: string, file: string): void {
    this.touched.add(key);
    const list = this.owners.get(key);
    if (!list) return;
    const i = list.indexOf(file);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.owners.delete(key);
  }

  private duplicate(key: string, h: HeldObject, file: string, other: HeldObject | undefined, otherFile: string): void {
    const src = other?.update.source;
    const where = src ? `${src.file}${src.line ? `:${src.line}` : ""}` : otherFile;
    this.report({
      file: h.update.source?.file ?? file,
      line: h.update.source?.line,
      message: `${key} is also defined in ${where}; ${file >= otherFile ? "this definition wins" : "that one wins (its path sorts last)"}`,
    });
  }
}
