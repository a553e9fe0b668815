// One kind's list-watch, as client-go's reflector does it, keeping only each
// object's resourceVersion (never the object):
//   - LIST in pages (`limit`/`continue`); each item is slimmed (slim.ts) and
//     handed on at once; the next page is asked for before a page is handed
//     on, so two pages are the most ever held;
//   - then WATCH from the LIST's resourceVersion, with bookmarks, and again
//     from the last one seen when the stream ends (the server's timeout) or
//     breaks (backoff with jitter);
//   - 410 Gone (history compacted, continue token expired) → LIST again; an
//     object whose resourceVersion is unchanged is not handed on, one missing
//     from the new LIST is handed on as deleted: only real differences;
//   - an optional CRD answering 404 counts as listed and empty, and is looked
//     for again every `crdRetryMs`;
//   - stop() aborts the request in flight and no request starts after it
//     (client-node's informer could open a WATCH after being stopped mid-LIST).

import type { Logger } from "pino";
import type { KubeObject } from "../../model/k8s.js";
import type { Kind, ResourceUpdate } from "../../model/resource.js";
import type { KubeAccess } from "./kube-config.js";
import { ApiError, apiUrl, listPage, watchEvents } from "./kube-request.js";
import { slim } from "./slim.js";

export interface KindSpec {
  readonly kind: Kind;
  /** The collection path, for LIST and WATCH. */
  readonly path: string;
  readonly clusterScoped?: boolean;
  /** A CRD that may not be installed (404): empty until it is. */
  readonly optional?: boolean;
}

export interface ListWatchOptions {
  readonly kubeConfig: KubeAccess;
  readonly log: Logger;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly crdRetryMs?: number;
  /** Objects per LIST page (default 500, as client-go). */
  readonly pageSize?: number;
  readonly onEvent?: (e: { kind: Kind; what: "restart" | "error" | "synced" }) => void;
}

/** Thrown out of the watch loop to list again. */
class Gone extends Error {}

const statusOf = (e: unknown): number | undefined => (e instanceof ApiError ? e.statusCode : undefined);

export class ListWatch {
  /** The first LIST is done (or the optional CRD is not installed). */
  synced = false;
  /** resourceVersion of every object handed on and not deleted, by namespace and name. */
  private readonly known = new Map<string, Map<string, string>>();
  private readonly abort = new AbortController();
  private absent = false;
  private backoff: number;

  constructor(
    readonly spec: KindSpec,
    private readonly o: ListWatchOptions,
    private readonly emit: (u: ResourceUpdate) => void,
    private readonly onSynced: () => void,
  ) {
    this.backoff = o.minBackoffMs ?? 200;
  }

  get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.abort.abort();
  }

  private async run(): Promise<void> {
    let rv: string | undefined; // undefined: LIST first
    while (!this.stopped) {
      try {
        rv ??= await this.list();
        const t0 = performance.now();
        const next = await this.watch(rv);
        // A watch that ends at once with nothing in it (a server refusing quietly) is not retried in a hot loop.
        if (next.events === 0 && performance.now() - t0 < 1000) await this.sleep(this.nextBackoff());
        rv = next.rv;
      } catch (e) {
        if (this.stopped) return;
        if (e instanceof Gone) {
          rv = undefined;
          continue;
        }
        if (this.spec.optional && statusOf(e) === 404) {
          this.notInstalled();
          rv = undefined;
          await this.sleep(this.o.crdRetryMs ?? 30_000);
          continue;
        }
        this.o.log.warn(
          { kind: this.spec.kind, err: (e as Error).message, code: statusOf(e) ?? (e as { code?: string }).code },
          rv === undefined ? "list failed; retrying" : "watch failed; restarting",
        );
        this.o.onEvent?.({ kind: this.spec.kind, what: "error" });
        await this.sleep(this.nextBackoff());
        if (!this.stopped) this.o.onEvent?.({ kind: this.spec.kind, what: "restart" });
      }
    }
  }

  /** LISTs every page, handing on what differs from what is known; returns the list's resourceVersion. */
  private async list(): Promise<string> {
    const seen = new Map<string, Set<string>>();
    let rv = "";
    type Page = Awaited<ReturnType<typeof listPage>>;
    const fetchPage = (cont: string | undefined): Promise<Page> => {
      const query: Record<string, string> = { limit: String(this.o.pageSize ?? 500) };
      if (cont) query.continue = cont;
      const page = listPage(
        this.o.kubeConfig,
        apiUrl(this.o.kubeConfig, this.spec.path, query),
        this.abort.signal,
      ).catch((e: unknown) => {
        // An expired continue token: start the LIST over.
        throw statusOf(e) === 410 && cont ? new Gone() : e;
      });
      page.catch(() => {}); // awaited in turn; a LIST that stops early leaves no unhandled rejection
      return page;
    };
    // The next page is asked for before this one is handed on: the server prepares it (and it
    // travels) while the graph takes in this one. Two pages are the most ever held.
    let next: Promise<Page> | undefined = fetchPage(undefined);
    while (next) {
      const page: Page = await next;
      if (this.stopped) throw new Error("stopped");
      const cont: string | undefined = page.metadata?.continue || undefined;
      next = cont ? fetchPage(cont) : undefined;
      for (const item of page.items ?? []) {
        const [ns, name] = this.keyOf(item);
        const names = seen.get(ns) ?? new Set<string>();
        seen.set(ns, names.add(name));
        this.handOn(ns, name, item);
      }
      rv = page.metadata?.resourceVersion ?? "";
    }
    for (const [ns, names] of [...this.known]) {
      for (const name of [...names.keys()]) if (!seen.get(ns)?.has(name)) this.deleted(ns, name);
    }
    this.backoff = this.o.minBackoffMs ?? 200;
    if (this.absent) {
      this.absent = false;
      this.o.log.info({ kind: this.spec.kind }, "CRD installed; watching it");
    }
    this.markSynced();
    return rv;
  }

  /** Exponential with jitter (±20%). */
  private nextBackoff(): number {
    const ms = this.backoff * (0.8 + Math.random() * 0.4);
    this.backoff = Math.min(this.backoff * 2, this.o.maxBackoffMs ?? 30_000);
    return ms;
  }

  /** WATCHes from `from` until the stream ends; returns the last resourceVersion seen and how many events came. */
  private async watch(from: string): Promise<{ rv: string; events: number }> {
    // The server ends the watch after 5–10 minutes (client-go's spread); a stream that outlives that by
    // a minute is dead without a FIN, and is aborted here.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error("watch outlived its timeout")),
      (timeoutSeconds + 60) * 1000,
    );
    const query = {
      watch: "true",
      resourceVersion: from,
      allowWatchBookmarks: "true",
      timeoutSeconds: String(timeoutSeconds),
    };
    let rv = from;
    let events = 0;
    try {
      const url = apiUrl(this.o.kubeConfig, this.spec.path, query);
      for await (const ev of watchEvents(
        this.o.kubeConfig,
        url,
        AbortSignal.any([this.abort.signal, deadline.signal]),
      )) {
        if (this.stopped) break;
        events++;
        if (ev.type === "ERROR") {
          const code = ev.object.code ?? 0;
          if (code === 410) throw new Gone();
          throw new ApiError(`WATCH ${this.spec.path}: ${ev.object.message ?? "error event"}`, code);
        }
        rv = ev.object.metadata?.resourceVersion ?? rv;
        if (ev.type === "BOOKMARK") continue;
        const [ns, name] = this.keyOf(ev.object);
        if (ev.type === "DELETED") this.deleted(ns, name);
        else this.handOn(ns, name, ev.object);
        this.backoff = this.o.minBackoffMs ?? 200;
      }
    } catch (e) {
      if (statusOf(e) === 410) throw new Gone();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return { rv, events };
  }

  /** Namespace ("" when cluster-scoped) and name. */
  private keyOf(obj: KubeObject): [string, string] {
    const m = obj.metadata;
    return [this.spec.clusterScoped ? "" : String(m?.namespace ?? "default"), String(m?.name ?? "")];
  }

  private handOn(namespace: string, name: string, obj: KubeObject): void {
    const rv = String(obj.metadata?.resourceVersion ?? "");
    const names = this.known.get(namespace) ?? new Map<string, string>();
    if (this.stopped || (rv !== "" && names.get(name) === rv)) return;
    this.known.set(namespace, names.set(name, rv));
    this.emit({ kind: this.spec.kind, namespace, name, value: slim(this.spec.kind, obj) });
  }

  private deleted(namespace: string, name: string): void {
    const names = this.known.get(namespace);
    if (this.stopped || !names?.delete(name)) return;
    if (names.size === 0) this.known.delete(namespace);
    this.emit({ kind: this.spec.kind, namespace, name, value: null });
  }

  /** An optional CRD answering 404 is not installed: listed and empty for the in-sync barrier. */
  private notInstalled(): void {
    if (!this.absent) this.o.log.info({ kind: this.spec.kind }, "CRD not installed; treating it as empty");
    this.absent = true;
    this.markSynced();
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    this.o.onEvent?.({ kind: this.spec.kind, what: "synced" });
    this.onSynced();
  }

  /** Waits `ms`, or less if stopped. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.abort.signal.addEventListener("abort", done, { once: true });
    });
  }
}
