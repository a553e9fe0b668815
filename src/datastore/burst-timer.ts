// When the file datastore's next pass runs: file events come in bursts, and a
// burst (events closer together than the quiet period) is one batch, never
// delayed past a deadline. A lone write need not wait the whole quiet period:
// while a burst's events name one manifest file (hidden names such as a
// writer's temp file aside), its first batch is cut after a short quiet
// (`loneMs`), since the events of one write come together. The rest of that
// burst, or a burst naming two files or anything else (a directory?), waits
// for the full quiet period as one batch.

import { basename } from "node:path";

export interface BurstTimerOptions {
  /** Quiet period that ends a burst (the file datastore's `debounceMs`). */
  readonly quietMs: number;
  /** The lone write's shorter quiet period (at most `quietMs`). */
  readonly loneMs: number;
  /** A burst never delays a pass longer than this. */
  readonly maxDelayMs: number;
  /** Names a manifest file (a name the datastore reads). */
  readonly isManifest: (path: string) => boolean;
}

export class BurstTimer {
  private quiet: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  /** Non-hidden paths named since the last pass. */
  private readonly named = new Set<string>();
  /** The full quiet period is due anyway (work without a name: a retry, a full pass). */
  private full = false;
  /** This burst's first batch was cut already. */
  private cut = false;
  private lastEvent = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly pass: () => void,
    private readonly o: BurstTimerOptions,
  ) {}

  /** A watcher event naming `path` (undefined: it named nothing). */
  event(path: string | undefined, now = performance.now()): void {
    if (now - this.lastEvent >= this.o.quietMs) this.cut = false; // a new burst
    this.lastEvent = now;
    if (path === undefined) this.full = true;
    else if (!basename(path).startsWith(".")) this.named.add(path);
    this.arm();
  }

  /** Work due after the full quiet period (a file to read again, a full pass). */
  schedule(): void {
    this.full = true;
    this.arm();
  }

  stop(): void {
    clearTimeout(this.quiet);
    clearTimeout(this.deadline);
    this.quiet = this.deadline = undefined;
  }

  private arm(): void {
    // Only a burst that names its one manifest file is cut short: a writer's hidden temp file alone
    // (written, not yet renamed) gives nothing to read, and cutting there spent the burst's short cut
    // on an empty pass, so the rename that followed waited the full quiet period.
    const lone = !this.full && !this.cut && this.named.size === 1 && [...this.named].every(this.o.isManifest);
    clearTimeout(this.quiet);
    this.quiet = setTimeout(() => this.fire(lone), lone ? Math.min(this.o.loneMs, this.o.quietMs) : this.o.quietMs);
    this.deadline ??= setTimeout(() => this.fire(false), this.o.maxDelayMs);
  }

  private fire(lone: boolean): void {
    if (lone) this.cut = true;
    this.named.clear();
    this.full = false;
    this.stop();
    this.pass();
  }
}
