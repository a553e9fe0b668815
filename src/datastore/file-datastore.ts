// The file datastore: a directory of manifests as a stream of resource-update
// batches. The first batch is the whole directory (the in-sync point); after
// that, with `watch`, each burst of file changes becomes one batch holding
// only the objects that changed (added, modified or gone).
//
// A file that fails to parse keeps contributing the objects it last parsed to
// (nothing is lost while someone is mid-edit); the problem is reported. When
// two files define the same object, the one whose path sorts last wins.

import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { Observable } from "rxjs";
import { type ResourceUpdate, resourceKey } from "../model/resource.js";
import { listManifestFiles, type ManifestProblem, parseManifestText } from "./manifests.js";

export interface FileDatastoreOptions {
  readonly dir: string;
  readonly watch: boolean;
  /** Quiet period that closes a burst of file events into one batch. */
  readonly debounceMs?: number;
  readonly onProblem?: (p: ManifestProblem) => void;
  readonly onIgnored?: (i: { file: string; line?: number; kind: string }) => void;
}

export class FileDatastore {
  /** file → (resource key → update) as last parsed successfully. */
  private readonly byFile = new Map<string, Map<string, ResourceUpdate>>();
  /** What downstream has been told: resource key → update. */
  private readonly emitted = new Map<string, ResourceUpdate>();

  constructor(private readonly o: FileDatastoreOptions) {}

  /** Batches of updates; errors only when the directory itself cannot be read. */
  updates(): Observable<ResourceUpdate[]> {
    return new Observable<ResourceUpdate[]>((sub) => {
      let watcher: FSWatcher | undefined;
      let timer: NodeJS.Timeout | undefined;
      let running: Promise<void> = Promise.resolve();
      let closed = false;

      const sync = () => {
        running = running.then(async () => {
          if (closed) return;
          try {
            const batch = await this.rescan();
            if (batch.length > 0 && !closed) sub.next(batch);
          } catch (e) {
            sub.error(e);
          }
        });
      };

      // Watch before the first scan: a change made right after the in-sync
      // batch (or during the scan) must not slip between scan and watch.
      if (this.o.watch) {
        try {
          watcher = watch(this.o.dir, { recursive: true }, () => {
            clearTimeout(timer);
            timer = setTimeout(sync, this.o.debounceMs ?? 50);
          });
          watcher.on("error", (e) => sub.error(e));
        } catch (e) {
          sub.error(e);
          return;
        }
      }
      running = running.then(async () => {
        try {
          const first = await this.rescan();
          sub.next(first); // even when empty: this is the in-sync point
          if (!this.o.watch) sub.complete();
        } catch (e) {
          sub.error(e);
        }
      });

      return () => {
        closed = true;
        clearTimeout(timer);
        watcher?.close();
      };
    });
  }

  /** Re-reads the directory and returns what changed since the last call. */
  async rescan(): Promise<ResourceUpdate[]> {
    const files = await listManifestFiles(this.o.dir);
    const present = new Set(files.map((f) => this.name(f)));
    for (const f of [...this.byFile.keys()]) if (!present.has(f)) this.byFile.delete(f);
    for (const path of files) {
      const file = this.name(path);
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch (e) {
        // Vanished between listing and reading: it is a delete.
        if ((e as NodeJS.ErrnoException).code === "ENOENT") this.byFile.delete(file);
        else this.o.onProblem?.({ file, message: `cannot read: ${(e as Error).message}` });
        continue;
      }
      const parsed = parseManifestText(text, file);
      for (const p of parsed.problems) this.o.onProblem?.(p);
      for (const i of parsed.ignored) this.o.onIgnored?.(i);
      // A file with a syntax error keeps its previous objects.
      const broken = parsed.problems.some((p) => p.message.startsWith("invalid"));
      if (broken && this.byFile.has(file)) continue;
      this.byFile.set(file, new Map(parsed.updates.map((u) => [resourceKey(u), u])));
    }
    const current = new Map<string, ResourceUpdate>();
    for (const file of [...this.byFile.keys()].sort()) for (const [k, u] of this.byFile.get(file)!) current.set(k, u);
    const batch: ResourceUpdate[] = [];
    for (const [k, u] of current) {
      const prev = this.emitted.get(k);
      if (!prev || !isDeepStrictEqual(prev.value, u.value)) batch.push(u);
    }
    for (const [k, u] of this.emitted) if (!current.has(k)) batch.push({ ...u, value: null, source: u.source });
    this.emitted.clear();
    for (const [k, u] of current) this.emitted.set(k, u);
    return batch;
  }

  private name(path: string): string {
    return relative(process.cwd(), path) || path;
  }
}
