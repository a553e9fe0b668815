// What the file datastore knows: per file, the objects it last parsed (and the
// file's signature when read); per object, the files defining it; and what
// downstream has been told. Changing one file touches only its own objects:
// the diff compares those keys alone, object by object.
//
// When two files define the same object, the one whose path sorts last wins;
// the duplicate is reported when it appears. A file that stops parsing keeps
// the objects it held (fail closed: a policy never vanishes mid-edit).

import { isDeepStrictEqual } from "node:util";
import { type ResourceUpdate, resourceKey } from "../model/resource.js";
import type { FileSig } from "./manifest-reader.js";
import type { ManifestProblem } from "./manifests.js";

interface FileEntry {
  sig?: FileSig;
  objects: Map<string, ResourceUpdate>;
}

export class ManifestState {
  private readonly files = new Map<string, FileEntry>();
  /** resource key → the files defining it, sorted (the last one wins). */
  private readonly owners = new Map<string, string[]>();
  private readonly emitted = new Map<string, ResourceUpdate>();
  /** Keys whose winner may have changed since the last `takeBatch`, in the order they were touched. */
  private touched = new Set<string>();

  constructor(private readonly report: (p: ManifestProblem) => void) {}

  knownFiles(): IterableIterator<string> {
    return this.files.keys();
  }

  /** The objects a file holds now. */
  objectsOf(file: string): ReadonlyMap<string, ResourceUpdate> | undefined {
    return this.files.get(file)?.objects;
  }

  sig(file: string): FileSig | undefined {
    return this.files.get(file)?.sig;
  }

  /** The file now holds exactly `updates` (its last good parse). */
  setFile(file: string, updates: readonly ResourceUpdate[], sig: FileSig | undefined): void {
    const entry = this.files.get(file);
    const objects = new Map<string, ResourceUpdate>();
    for (const u of updates) {
      const key = resourceKey(u);
      const earlier = objects.get(key);
      if (earlier) this.duplicate(key, u, file, earlier, file);
      objects.set(key, u);
    }
    if (entry) {
      for (const key of entry.objects.keys()) {
        if (!objects.has(key)) this.disown(key, file);
        else if (entry.objects.get(key) !== objects.get(key)) this.touched.add(key);
      }
    }
    for (const [key, u] of objects) {
      if (!entry?.objects.has(key)) this.own(key, file, u);
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

  /** The updates that bring downstream to the current state of the touched objects. */
  takeBatch(): ResourceUpdate[] {
    const batch: ResourceUpdate[] = [];
    for (const key of this.touched) {
      const winner = this.owners.get(key)?.at(-1);
      const u = winner === undefined ? undefined : this.files.get(winner)?.objects.get(key);
      const prev = this.emitted.get(key);
      if (u) {
        if (!prev || (prev !== u && !isDeepStrictEqual(prev.value, u.value))) batch.push(u);
        this.emitted.set(key, u);
      } else if (prev) {
        batch.push({ ...prev, value: null });
        this.emitted.delete(key);
      }
    }
    this.touched = new Set();
    return batch;
  }

  private own(key: string, file: string, u: ResourceUpdate): void {
    const list = this.owners.get(key);
    if (!list) {
      this.owners.set(key, [file]);
      return;
    }
    const other = list.at(-1)!;
    this.duplicate(key, u, file, this.files.get(other)?.objects.get(key), other);
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

  private duplicate(
    key: string,
    u: ResourceUpdate,
    file: string,
    other: ResourceUpdate | undefined,
    otherFile: string,
  ): void {
    const where = other?.source ? `${other.source.file}${other.source.line ? `:${other.source.line}` : ""}` : otherFile;
    this.report({
      file: u.source?.file ?? file,
      line: u.source?.line,
      message: `${key} is also defined in ${where}; ${file >= otherFile ? "this definition wins" : "that one wins (its path sorts last)"}`,
    });
  }
}
