// Reading a datastore before the agent is ready to take what it sends,
// without losing anything or starting a second watch:
//   - readFromNow: the agent subscribes as it starts, so the datastore is read
//     (files parsed, LIST pages fetched) while the start-up probes wait for
//     their programs; what arrives meanwhile is kept for the graph;
//   - firstBatch: the agent chooses its dataplane from the FelixConfigurations
//     in the first batch (nftablesMode), then hands `rest` (everything read so
//     far, then everything after it) to the graph. A datastore may hand its
//     first batch over in parts (datastore/batch.ts): `complete` tells the item
//     that completes it.

import { Observable, type Subscription } from "../model/rx.js";

export interface ReadFromNow<T> {
  /** Replays what arrived so far, then follows the source. Subscribe once. */
  readonly rest: Observable<T>;
  /** Stops the source (when `rest` is never subscribed). */
  readonly stop: () => void;
}

export interface FirstBatch<T> extends ReadFromNow<T> {
  /** The items up to and including the first complete one. */
  readonly parts: readonly T[];
}

/** Observes the source's events as they come, before `rest` forwards or keeps them. */
interface Watch<T> {
  /** `read` is what readFromNow returns (a source may send while it is being subscribed to). */
  next?(v: T, read: ReadFromNow<T>): void;
  /** True: the error is taken (rest never sees it). */
  error?(e: unknown): boolean;
  /** True: the end is taken (rest never sees it). */
  complete?(): boolean;
}

/** Subscribes to `source` now; `rest` hands over what it sent so far and follows it. */
export function readFromNow<T>(source: Observable<T>, watch: Watch<T> = {}): ReadFromNow<T> {
  // Released to `rest`'s subscriber when it subscribes.
  const buffered: T[] = [];
  let sink: { next(v: T): void; error(e: unknown): void; complete(): void } | undefined;
  let ended: { error?: unknown } | undefined;
  let sub: Subscription | undefined;
  const rest = new Observable<T>((subscriber) => {
    if (sink) throw new Error("readFromNow: rest is subscribed once");
    sink = subscriber;
    for (const v of buffered.splice(0)) subscriber.next(v);
    if (ended) {
      if (ended.error !== undefined) subscriber.error(ended.error);
      else subscriber.complete();
    }
    return () => sub?.unsubscribe();
  });
  const read = { rest, stop: () => sub?.unsubscribe() };
  sub = source.subscribe({
    next: (v) => {
      if (sink) sink.next(v);
      else buffered.push(v);
      watch.next?.(v, read);
    },
    error: (e) => {
      if (watch.error?.(e)) return;
      if (sink) sink.error(e);
      else ended = { error: e };
    },
    complete: () => {
      if (watch.complete?.()) return;
      if (sink) sink.complete();
      else ended = {};
    },
  });
  return read;
}

export function firstBatch<T>(
  source: Observable<T>,
  complete: (item: T) => boolean = () => true,
): Promise<FirstBatch<T>> {
  return new Promise((resolve, reject) => {
    const parts: T[] = [];
    let started = false;
    readFromNow(source, {
      next: (v, read) => {
        if (started) return;
        parts.push(v);
        if (complete(v)) {
          started = true;
          resolve({ parts, ...read });
        }
      },
      error: (e) => {
        if (!started) reject(e);
        return !started;
      },
      complete: () => {
        if (!started) reject(new Error("the datastore ended before its first batch"));
        return !started;
      },
    });
  });
}
