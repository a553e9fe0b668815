// Reads a datastore's first batch before the daemon subscribes, without
// losing it or starting a second watch: the agent chooses its dataplane from
// the FelixConfigurations in it (nftablesMode), then hands `rest` (everything
// read so far, then everything after it) to the graph. A datastore may hand
// its first batch over in parts (datastore/batch.ts): `complete` tells the
// item that completes it.

import { Observable, type Subscription } from "../model/rx.js";

export interface FirstBatch<T> {
  /** The items up to and including the first complete one. */
  readonly parts: readonly T[];
  /** Replays what arrived so far, then follows the source. Subscribe once. */
  readonly rest: Observable<T>;
  /** Stops the source (when `rest` is never subscribed). */
  readonly stop: () => void;
}

export function firstBatch<T>(
  source: Observable<T>,
  complete: (item: T) => boolean = () => true,
): Promise<FirstBatch<T>> {
  return new Promise((resolve, reject) => {
    // Released to `rest`'s subscriber when it subscribes.
    const buffered: T[] = [];
    let sink: { next(v: T): void; error(e: unknown): void; complete(): void } | undefined;
    let ended: { error?: unknown } | undefined;
    let started = false;
    let sub: Subscription | undefined;
    const rest = new Observable<T>((subscriber) => {
      if (sink) throw new Error("firstBatch: rest is subscribed once");
      sink = subscriber;
      for (const v of buffered.splice(0)) subscriber.next(v);
      if (ended) {
        if (ended.error !== undefined) subscriber.error(ended.error);
        else subscriber.complete();
      }
      return () => sub?.unsubscribe();
    });
    sub = source.subscribe({
      next: (v) => {
        if (sink) sink.next(v);
        else buffered.push(v);
        if (!started && complete(v)) {
          started = true;
          resolve({ parts: [...buffered], rest, stop: () => sub?.unsubscribe() });
        }
      },
      error: (e) => {
        if (!started) reject(e);
        else if (sink) sink.error(e);
        else ended = { error: e };
      },
      complete: () => {
        if (!started) reject(new Error("the datastore ended before its first batch"));
        else if (sink) sink.complete();
        else ended = {};
      },
    });
  });
}
