/**
 * A fake Kubernetes API server for tests: plain node:http on 127.0.0.1, speaking the real wire protocol closely
 * enough that the real `@kubernetes/client-node` (1.4.0) lists, watches and writes against it.
 *
 * What it models:
 *  - Resources: core/v1 namespaces, pods, serviceaccounts, nodes, services, events; networking.k8s.io/v1
 *    networkpolicies; discovery.k8s.io/v1 endpointslices; Calico's CRDs crd.projectcalico.org/v1 ippools,
 *    blockaffinities, felixconfigurations (cluster-scoped; `calicoCrds: false` answers 404 as if not installed).
 *  - Paths: cluster-wide collections (`/api/v1/pods`, `/apis/networking.k8s.io/v1/networkpolicies`), namespaced
 *    collections (`/api/v1/namespaces/<ns>/pods`), single objects, the `/status` subresource, and the legacy
 *    `/api/v1/watch/...` prefix.
 *  - Verbs: LIST (labelSelector, fieldSelector, limit/continue), WATCH (resourceVersion replay from a bounded
 *    history, live events, BOOKMARKs, 410 Expired, timeoutSeconds), GET, POST (create, generateName), PUT
 *    (optimistic concurrency on metadata.resourceVersion), PATCH (strategic-merge, merge, json-patch), DELETE.
 *  - One global resourceVersion counter (like etcd's revision), bumped by every write.
 *
 * What it does not model: admission (namespaces need not exist), RBAC (the bearer token is only recorded unless
 * `requireToken` is set), graceful deletion, finalizers, defaulting/validation, protobuf, server-side apply.
 *
 * Tests drive state through the TypeScript control API (`create`, `update`, `delete`, ...), not over HTTP.
 */
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { type JsonPatchOp, jsonMergePatch, jsonPatch, strategicMerge } from "./fake-apiserver/patch.js";
import {
  clone,
  deepEqual,
  type Filter,
  isPlainObject,
  matches,
  nowTimestamp,
  parseFieldSelector,
  parseLabelSelector,
  randomSuffix,
} from "./fake-apiserver/selectors.js";
import { ApiError, notFound, reasonFor, type StatusObject, statusObject } from "./fake-apiserver/status.js";
import {
  CALICO_CRD_GROUP_VERSION,
  CNP_GROUP_VERSION,
  type FakeApiServerOptions,
  type Fault,
  type KObject,
  type ObjectInput,
  type OpenWatchInfo,
  RESOURCE_TYPES,
  type RecordedRequest,
  type ResourceType,
  resourceType,
  typeId,
  type WatchEvent,
} from "./fake-apiserver/types.js";

export { jsonMergePatch, jsonPatch, strategicMerge } from "./fake-apiserver/patch.js";
export { parseFieldSelector, parseLabelSelector } from "./fake-apiserver/selectors.js";
export type { StatusObject } from "./fake-apiserver/status.js";
// The types and the resource registry, as this file exported them before they moved.
export * from "./fake-apiserver/types.js";

// ---------------------------------------------------------------------------------------------------------------
// Server

interface HistoryEvent {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  kind: string;
  object: KObject;
  /** For MODIFIED: the object before the change (so filtered watches can turn it into ADDED/DELETED). */
  prev?: KObject;
}

interface WatchConn {
  info: OpenWatchInfo;
  rt: ResourceType;
  filter: Filter;
  res: http.ServerResponse;
  socket: Socket;
  bookmarks: boolean;
  timeoutTimer?: NodeJS.Timeout;
  bookmarkTimer?: NodeJS.Timeout;
  closed: boolean;
}

interface ListSnapshot {
  rv: number;
  items: KObject[];
  created: number;
}

interface ParsedPath {
  rt: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
  watch: boolean;
}

const STORE_KEY = (namespace: string | undefined, name: string) => `${namespace ?? ""}/${name}`;

export class FakeApiServer {
  /** Every HTTP request received, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  /** How to answer a watch from a resourceVersion older than the history window (can be changed at any time). */
  tooOldMode: "event" | "http";
  /** Send BOOKMARKs even to watches that did not ask (can be changed at any time). */
  bookmarksWithoutRequest: boolean;
  /** Whether Calico's CRDs are served (can be changed at any time: "installing" them later). */
  calicoCrds: boolean;
  /** Whether the ClusterNetworkPolicy CRD is served (can be changed at any time). */
  cnpCrd: boolean;

  private readonly opts: Required<Omit<FakeApiServerOptions, "requireToken">> & { requireToken?: string };
  private server?: http.Server;
  private boundPort = 0;
  private readonly sockets = new Set<Socket>();
  private rv: number;
  /** All events with rv > historyStart are in `history`. */
  private historyStart: number;
  private history: HistoryEvent[] = [];
  private readonly store = new Map<string, Map<string, KObject>>();
  private readonly watches = new Set<WatchConn>();
  private readonly snapshots = new Map<string, ListSnapshot>();
  private readonly faults: Fault[] = [];
  private readonly waiters = new Set<() => void>();
  private nextWatchId = 1;
  private closed = false;

  constructor(options: FakeApiServerOptions = {}) {
    this.opts = {
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 0,
      historySize: options.historySize ?? 1000,
      tooOldMode: options.tooOldMode ?? "event",
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 0,
      bookmarksWithoutRequest: options.bookmarksWithoutRequest ?? false,
      listItemsWithTypeMeta: options.listItemsWithTypeMeta ?? true,
      requireToken: options.requireToken,
      initialResourceVersion: options.initialResourceVersion ?? 100,
      calicoCrds: options.calicoCrds ?? true,
      cnpCrd: options.cnpCrd ?? true,
    };
    this.tooOldMode = this.opts.tooOldMode;
    this.bookmarksWithoutRequest = this.opts.bookmarksWithoutRequest;
    this.calicoCrds = this.opts.calicoCrds;
    this.cnpCrd = this.opts.cnpCrd;
    this.rv = this.opts.initialResourceVersion;
    this.historyStart = this.rv;
    for (const rt of RESOURCE_TYPES) this.store.set(typeId(rt), new Map());
  }

  // ------------------------------------------------------------------------------------------------ lifecycle

  /** The bound port (0 before the first start()). */
  get port(): number {
    return this.boundPort;
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return `http://${this.opts.host}:${this.boundPort}`;
  }

  /** Whether the server is currently accepting connections. */
  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  /** The current (latest) resourceVersion, as a number. */
  get resourceVersion(): number {
    return this.rv;
  }

  /**
   * Start listening (first call: on options.port, default random; later calls: on the same port again).
   * State (objects, resourceVersion, history) survives stop()/start().
   */
  async start(): Promise<void> {
    if (this.closed) throw new Error("fake-apiserver: start() after close()");
    if (this.server?.listening) return;
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 1000;
    server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    const port = this.boundPort || this.opts.port;
    // Re-binding the same port right after close can briefly fail with EADDRINUSE; retry a little.
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(port, this.opts.host, () => {
            server.off("error", reject);
            resolve();
          });
        });
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
  }

  /**
   * The API server goes away: stop listening (new connections are refused) and reset every open connection,
   * watches included. State is kept; start() brings it back on the same port.
   */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const w of [...this.watches]) this.closeWatch(w, true);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    server.closeAllConnections();
    await closed;
  }

  /** stop() for good: also clears timers and pending waiters. Idempotent. */
  async close(): Promise<void> {
    await this.stop();
    this.closed = true;
    this.snapshots.clear();
    for (const w of [...this.waiters]) w();
  }

  // ------------------------------------------------------------------------------------------------ control API

  /** Store a new object (kind required; namespaced kinds default to namespace "default"). Returns the stored copy. */
  create<T extends ObjectInput>(obj: T): T {
    const rt = resourceType(String(obj.kind ?? ""), obj.apiVersion);
    const o = clone(obj) as KObject;
    o.kind = rt.kind;
    o.apiVersion = rt.apiVersion;
    o.metadata = o.metadata ?? {};
    if (!o.metadata.name && o.metadata.generateName) o.metadata.name = o.metadata.generateName + randomSuffix();
    if (!o.metadata.name) throw new Error("fake-apiserver: create() needs metadata.name");
    if (rt.namespaced) o.metadata.namespace = o.metadata.namespace || "default";
    else delete o.metadata.namespace;
    const map = this.store.get(typeId(rt))!;
    const key = STORE_KEY(o.metadata.namespace, o.metadata.name);
    if (map.has(key)) {
      throw new ApiError(
        statusObject(409, "AlreadyExists", `${rt.plural} "${o.metadata.name}" already exists`, {
          name: o.metadata.name,
          kind: rt.plural,
        }),
      );
    }
    const rv = ++this.rv;
    o.metadata.uid = o.metadata.uid || randomUUID();
    o.metadata.creationTimestamp = o.metadata.creationTimestamp || nowTimestamp();
    o.metadata.resourceVersion = String(rv);
    if (rt.kind !== "Event" && o.metadata.generation === undefined) o.metadata.generation = 1;
    map.set(key, o);
    this.record({ rv, type: "ADDED", kind: typeId(rt), object: clone(o) });
    return clone(o) as T;
  }

  /**
   * Replace an existing object (the stored resourceVersion is ignored: test writes are unconditional).
   * uid and creationTimestamp are kept; generation is bumped when spec changes. Always bumps the resourceVersion.
   */
  update<T extends ObjectInput>(obj: T): T {
    const rt = resourceType(String(obj.kind ?? ""), obj.apiVersion);
    const ns = rt.namespaced ? obj.metadata?.namespace || "default" : undefined;
    const name = obj.metadata?.name ?? "";
    const old = this.store.get(typeId(rt))!.get(STORE_KEY(ns, name));
    if (!old) throw notFound(rt, name);
    return this.replace(rt, old, clone(obj) as KObject) as T;
  }

  /** create() or update(), whichever applies. */
  apply<T extends ObjectInput>(obj: T): T {
    const rt = resourceType(String(obj.kind ?? ""), obj.apiVersion);
    const ns = rt.namespaced ? obj.metadata?.namespace || "default" : undefined;
    return this.store.get(typeId(rt))!.has(STORE_KEY(ns, obj.metadata?.name ?? ""))
      ? this.update(obj)
      : this.create(obj);
  }

  /**
   * Delete an object. For cluster-scoped kinds pass `undefined` (or "") as namespace, or use the two-argument form
   * `delete(kind, name)`. Returns the deleted object (with the deletion's resourceVersion), undefined if absent.
   */
  delete(kind: string, namespaceOrName: string | undefined, name?: string): KObject | undefined {
    const rt = resourceType(kind);
    const [ns, n] = this.nsName(rt, namespaceOrName, name);
    const map = this.store.get(typeId(rt))!;
    const key = STORE_KEY(ns, n);
    const old = map.get(key);
    if (!old) return undefined;
    map.delete(key);
    const rv = ++this.rv;
    const gone = clone(old);
    gone.metadata!.resourceVersion = String(rv);
    this.record({ rv, type: "DELETED", kind: typeId(rt), object: clone(gone) });
    return gone;
  }

  /** Get a copy of an object; `get(kind, name)` for cluster-scoped kinds. */
  get<T extends KObject = KObject>(kind: string, namespaceOrName: string | undefined, name?: string): T | undefined {
    const rt = resourceType(kind);
    const [ns, n] = this.nsName(rt, namespaceOrName, name);
    return clone(this.store.get(typeId(rt))!.get(STORE_KEY(ns, n))) as T | undefined;
  }

  /** Copies of all objects of a kind (optionally one namespace), sorted by namespace/name like etcd keys. */
  list<T extends KObject = KObject>(kind: string, namespace?: string): T[] {
    const rt = resourceType(kind);
    return this.sorted(rt)
      .filter((o) => namespace === undefined || o.metadata?.namespace === namespace)
      .map((o) => clone(o) as T);
  }

  /**
   * Send a BOOKMARK with the current resourceVersion to every open watch that asked for bookmarks
   * (allowWatchBookmarks=true, or all watches with bookmarksWithoutRequest). Returns how many got one.
   */
  bookmark(): number {
    let n = 0;
    for (const w of this.watches) if (this.wantsBookmarks(w) && this.sendBookmark(w)) n++;
    return n;
  }

  /** Forget the event history: a watch from any resourceVersion older than the current one now gets 410. */
  compactHistory(): void {
    this.history = [];
    this.historyStart = this.rv;
    this.snapshots.clear();
  }

  /** Destroy every open watch connection abruptly (TCP reset, no chunked terminator). Returns how many. */
  dropWatches(): number {
    const ws = [...this.watches];
    for (const w of ws) this.closeWatch(w, true);
    return ws.length;
  }

  /** End every open watch cleanly (like a server-side watch timeout). Returns how many. */
  endWatches(): number {
    const ws = [...this.watches];
    for (const w of ws) this.closeWatch(w, false);
    return ws.length;
  }

  /** The currently open watches. */
  openWatches(): OpenWatchInfo[] {
    return [...this.watches].map((w) => ({ ...w.info, query: { ...w.info.query } }));
  }

  /** Fail matching requests with an HTTP error (checked before routing, after recording). */
  injectFault(fault: Fault): void {
    this.faults.push({ ...fault, times: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** The current length of the request log, to pass as `since` to waitForRequest(). */
  mark(): number {
    return this.requests.length;
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  /**
   * Resolve with the first recorded request at index >= since that matches; reject after timeoutMs (default 2000).
   */
  waitForRequest(
    pred: (r: RecordedRequest) => boolean,
    opts: { since?: number; timeoutMs?: number } = {},
  ): Promise<RecordedRequest> {
    const since = opts.since ?? 0;
    return this.waitUntil(
      () => this.requests.slice(since).find(pred),
      opts.timeoutMs ?? 2000,
      "waitForRequest: no matching request",
    );
  }

  /** Resolve once an open watch matches (default: any), reject after timeoutMs (default 2000). */
  waitForWatch(pred: (w: OpenWatchInfo) => boolean = () => true, timeoutMs = 2000): Promise<OpenWatchInfo> {
    return this.waitUntil(() => this.openWatches().find(pred), timeoutMs, "waitForWatch: no matching watch");
  }

  // ------------------------------------------------------------------------------------------------ internals

  private waitUntil<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const first = probe();
    if (first !== undefined) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const v = this.closed ? undefined : probe();
        if (v !== undefined || this.closed) {
          clearTimeout(timer);
          this.waiters.delete(check);
          if (v !== undefined) resolve(v);
          else reject(new Error(`${what} (server closed)`));
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  private notifyWaiters(): void {
    for (const w of [...this.waiters]) w();
  }

  private nsName(rt: ResourceType, a: string | undefined, b: string | undefined): [string | undefined, string] {
    if (b === undefined) {
      if (rt.namespaced) throw new Error(`fake-apiserver: ${rt.kind} is namespaced; pass (kind, namespace, name)`);
      return [undefined, a ?? ""];
    }
    return [rt.namespaced ? a || "default" : undefined, b];
  }

  private sorted(rt: ResourceType): KObject[] {
    return [...this.store.get(typeId(rt))!.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => o);
  }

  /** Store `next` in place of `old`, keeping identity fields; bumps RV and records MODIFIED. */
  private replace(rt: ResourceType, old: KObject, next: KObject): KObject {
    next.kind = rt.kind;
    next.apiVersion = rt.apiVersion;
    next.metadata = next.metadata ?? {};
    next.metadata.name = old.metadata!.name;
    if (rt.namespaced) next.metadata.namespace = old.metadata!.namespace;
    else delete next.metadata.namespace;
    next.metadata.uid = old.metadata!.uid;
    next.metadata.creationTimestamp = old.metadata!.creationTimestamp;
    if (old.metadata!.generation !== undefined) {
      next.metadata.generation = old.metadata!.generation + (deepEqual(old.spec, next.spec) ? 0 : 1);
    }
    const rv = ++this.rv;
    next.metadata.resourceVersion = String(rv);
    this.store.get(typeId(rt))!.set(STORE_KEY(next.metadata.namespace, next.metadata.name!), next);
    this.record({ rv, type: "MODIFIED", kind: typeId(rt), object: clone(next), prev: clone(old) });
    return clone(next);
  }

  private record(ev: HistoryEvent): void {
    this.history.push(ev);
    while (this.history.length > this.opts.historySize) {
      const dropped = this.history.shift()!;
      this.historyStart = dropped.rv;
    }
    for (const w of [...this.watches]) this.deliver(w, ev);
    this.notifyWaiters();
  }

  /** Translate a store event for one watch's filter (selector transitions become ADDED/DELETED) and send it. */
  private deliver(w: WatchConn, ev: HistoryEvent): void {
    if (ev.kind !== typeId(w.rt) || w.closed) return;
    const now = matches(w.filter, ev.object);
    if (ev.type === "MODIFIED") {
      const before = ev.prev ? matches(w.filter, ev.prev) : false;
      if (now && before) this.send(w, { type: "MODIFIED", object: ev.object });
      else if (now) this.send(w, { type: "ADDED", object: ev.object });
      else if (before) {
        const gone = clone(ev.prev!);
        gone.metadata!.resourceVersion = ev.object.metadata!.resourceVersion;
        this.send(w, { type: "DELETED", object: gone });
      }
    } else if (now) {
      this.send(w, { type: ev.type, object: ev.object });
    }
  }

  private send(w: WatchConn, ev: WatchEvent): boolean {
    if (w.closed || w.res.writableEnded || w.res.destroyed) return false;
    w.res.write(`${JSON.stringify(ev)}\n`);
    return true;
  }

  private wantsBookmarks(w: WatchConn): boolean {
    return w.bookmarks || this.bookmarksWithoutRequest;
  }

  private sendBookmark(w: WatchConn): boolean {
    return this.send(w, {
      type: "BOOKMARK",
      object: { kind: w.rt.kind, apiVersion: w.rt.apiVersion, metadata: { resourceVersion: String(this.rv) } },
    });
  }

  private closeWatch(w: WatchConn, abrupt: boolean): void {
    if (w.closed) return;
    w.closed = true;
    clearTimeout(w.timeoutTimer);
    clearInterval(w.bookmarkTimer);
    this.watches.delete(w);
    if (abrupt) {
      // resetAndDestroy sends a TCP RST where available (Node >= 16.17), like a connection reset.
      const s = w.socket as Socket & { resetAndDestroy?: () => void };
      if (typeof s.resetAndDestroy === "function") s.resetAndDestroy();
      else s.destroy();
    } else if (!w.res.writableEnded) {
      w.res.end();
    }
    this.notifyWaiters();
  }

  // ------------------------------------------------------------------------------------------------ HTTP

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const query: Record<string, string> = {};
      for (const [k, v] of url.searchParams) query[k] = v;
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      if (raw !== "") {
        try {
          body = JSON.parse(raw);
        } catch {
          body = raw;
        }
      }
      const path = url.pathname;
      const watchByQuery = query.watch === "true" || query.watch === "1";
      const rec: RecordedRequest = {
        method: req.method ?? "GET",
        path,
        query,
        rawQuery: url.search.replace(/^\?/, ""),
        headers: req.headers,
        body,
        watch: watchByQuery || /^\/apis?\/(?:[^/]+\/)?v[^/]*\/watch\//.test(path),
        time: Date.now(),
      };
      this.requests.push(rec);
      res.on("finish", () => this.notifyWaiters());
      try {
        this.dispatch(req, res, rec);
      } catch (e) {
        if (res.headersSent) res.destroy();
        else if (e instanceof ApiError) this.sendStatus(res, rec, e.status);
        else {
          this.sendStatus(res, rec, statusObject(500, "InternalError", `fake-apiserver: ${(e as Error).message}`));
        }
      }
      this.notifyWaiters();
    });
  }

  private sendJson(res: http.ServerResponse, rec: RecordedRequest, code: number, body: unknown): void {
    rec.status = code;
    const text = JSON.stringify(body);
    res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
  }

  private sendStatus(res: http.ServerResponse, rec: RecordedRequest, s: StatusObject): void {
    this.sendJson(res, rec, s.code, s);
  }

  private parsePath(path: string): ParsedPath | undefined {
    const seg = path.split("/").filter((s) => s !== "");
    let rest: string[];
    let groupVersion: string;
    if (seg[0] === "api" && seg.length >= 2) {
      groupVersion = seg[1]!;
      rest = seg.slice(2);
    } else if (seg[0] === "apis" && seg.length >= 3) {
      groupVersion = `${seg[1]}/${seg[2]}`;
      rest = seg.slice(3);
    } else return undefined;
    let watch = false;
    if (rest[0] === "watch") {
      watch = true;
      rest = rest.slice(1);
    }
    let namespace: string | undefined;
    let plural: string | undefined;
    let name: string | undefined;
    let subresource: string | undefined;
    if (rest[0] === "namespaces" && rest.length >= 3) {
      namespace = decodeURIComponent(rest[1]!);
      [plural, name, subresource] = [rest[2], rest[3], rest[4]];
      if (rest.length > 5) return undefined;
    } else {
      [plural, name, subresource] = [rest[0], rest[1], rest[2]];
      if (rest.length > 3) return undefined;
    }
    const rt = RESOURCE_TYPES.find((r) => r.apiVersion === groupVersion && r.plural === plural);
    if (!rt) return undefined;
    if (rt.apiVersion === CALICO_CRD_GROUP_VERSION && !this.calicoCrds) return undefined;
    if (rt.apiVersion === CNP_GROUP_VERSION && !this.cnpCrd) return undefined;
    if (namespace !== undefined && !rt.namespaced) return undefined;
    return { rt, namespace, name: name === undefined ? undefined : decodeURIComponent(name), subresource, watch };
  }

  private dispatch(req: http.IncomingMessage, res: http.ServerResponse, rec: RecordedRequest): void {
    if (this.opts.requireToken !== undefined && req.headers.authorization !== `Bearer ${this.opts.requireToken}`) {
      throw new ApiError(statusObject(401, "Unauthorized", "Unauthorized"));
    }
    for (const f of this.faults) {
      if ((f.times ?? 1) <= 0) continue;
      if (f.method !== undefined && f.method.toUpperCase() !== rec.method) continue;
      if (f.watch !== undefined && f.watch !== rec.watch) continue;
      if (f.path !== undefined && (typeof f.path === "string" ? f.path !== rec.path : !f.path.test(rec.path))) {
        continue;
      }
      f.times = (f.times ?? 1) - 1;
      throw new ApiError(statusObject(f.status, reasonFor(f.status), f.message ?? `injected fault ${f.status}`));
    }
    const method = rec.method;
    if (rec.path === "/version" && method === "GET") {
      this.sendJson(res, rec, 200, { major: "1", minor: "31", gitVersion: "v1.31.0-fake", platform: "linux/amd64" });
      return;
    }
    if (["/healthz", "/livez", "/readyz"].includes(rec.path) && method === "GET") {
      rec.status = 200;
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end("ok");
      return;
    }
    const p = this.parsePath(rec.path);
    if (!p) throw new ApiError(statusObject(404, "NotFound", "the server could not find the requested resource"));
    const { rt } = p;
    if (p.name === undefined) {
      // Collection.
      if (method === "GET" && (rec.watch || p.watch)) {
        this.serveWatch(req, res, rec, p);
        return;
      }
      if (method === "GET") {
        this.sendJson(res, rec, 200, this.serveList(rt, p.namespace, rec.query));
        return;
      }
      if (method === "POST") {
        if (rt.namespaced && p.namespace === undefined) {
          throw new ApiError(statusObject(405, "MethodNotAllowed", "the server does not allow this method"));
        }
        this.sendJson(res, rec, 201, this.httpCreate(rt, p.namespace, rec.body));
        return;
      }
      throw new ApiError(statusObject(405, "MethodNotAllowed", "the server does not allow this method"));
    }
    if (rt.namespaced && p.namespace === undefined) {
      throw new ApiError(statusObject(404, "NotFound", "the server could not find the requested resource"));
    }
    if (p.watch) {
      // Legacy single-object watch: /api/v1/watch/namespaces/ns/pods/name.
      const q = { ...rec.query, fieldSelector: `metadata.name=${p.name}` };
      this.serveWatch(req, res, rec, { ...p, name: undefined }, q);
      return;
    }
    if (p.subresource !== undefined && (p.subresource !== "status" || !rt.hasStatus)) {
      throw new ApiError(statusObject(404, "NotFound", "the server could not find the requested resource"));
    }
    const status = p.subresource === "status";
    const key = STORE_KEY(p.namespace, p.name);
    const current = this.store.get(typeId(rt))!.get(key);
    switch (method) {
      case "GET":
        if (!current) throw notFound(rt, p.name);
        this.sendJson(res, rec, 200, current);
        return;
      case "DELETE": {
        if (!current) throw notFound(rt, p.name);
        const pre = isPlainObject(rec.body)
          ? (rec.body.preconditions as Record<string, string> | undefined)
          : undefined;
        if (pre?.resourceVersion && pre.resourceVersion !== current.metadata?.resourceVersion) {
          throw this.conflict(rt, p.name, "the ResourceVersion in the precondition does not match");
        }
        if (pre?.uid && pre.uid !== current.metadata?.uid) {
          throw this.conflict(rt, p.name, "the UID in the precondition does not match");
        }
        this.sendJson(res, rec, 200, this.delete(rt.kind, p.namespace, p.name));
        return;
      }
      case "PUT": {
        if (!current) throw notFound(rt, p.name);
        if (!isPlainObject(rec.body)) throw new ApiError(statusObject(400, "BadRequest", "body must be an object"));
        const body = rec.body as KObject;
        const want = body.metadata?.resourceVersion;
        if (want && want !== current.metadata?.resourceVersion) {
          throw this.conflict(
            rt,
            p.name,
            "the object has been modified; please apply your changes to the latest version and try again",
          );
        }
        this.sendJson(res, rec, 200, this.httpWrite(rt, current, clone(body), status));
        return;
      }
      case "PATCH": {
        if (!current) throw notFound(rt, p.name);
        const ctype = String(req.headers["content-type"] ?? "")
          .split(";")[0]!
          .trim();
        let patched: unknown;
        if (ctype === "application/strategic-merge-patch+json") patched = strategicMerge(current, rec.body);
        else if (ctype === "application/merge-patch+json") patched = jsonMergePatch(current, rec.body);
        else if (ctype === "application/json-patch+json") patched = jsonPatch(current, rec.body as JsonPatchOp[]);
        else {
          throw new ApiError(
            statusObject(
              415,
              "UnsupportedMediaType",
              `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
            ),
          );
        }
        if (!isPlainObject(patched)) throw new ApiError(statusObject(422, "Invalid", "patch result is not an object"));
        const next = patched as KObject;
        const want = isPlainObject(rec.body) ? (rec.body as KObject).metadata?.resourceVersion : undefined;
        if (want && want !== current.metadata?.resourceVersion) {
          throw this.conflict(
            rt,
            p.name,
            "the object has been modified; please apply your changes to the latest version and try again",
          );
        }
        this.sendJson(res, rec, 200, this.httpWrite(rt, current, next, status));
        return;
      }
      default:
        throw new ApiError(statusObject(405, "MethodNotAllowed", "the server does not allow this method"));
    }
  }

  private conflict(rt: ResourceType, name: string, why: string): ApiError {
    return new ApiError(
      statusObject(409, "Conflict", `Operation cannot be fulfilled on ${rt.plural} "${name}": ${why}`, {
        name,
        kind: rt.plural,
      }),
    );
  }

  private httpCreate(rt: ResourceType, namespace: string | undefined, body: unknown): KObject {
    if (!isPlainObject(body)) throw new ApiError(statusObject(400, "BadRequest", "body must be an object"));
    const o = clone(body) as KObject;
    if (o.kind !== undefined && o.kind !== rt.kind) {
      throw new ApiError(statusObject(400, "BadRequest", `the kind ${o.kind} does not match ${rt.kind}`));
    }
    o.kind = rt.kind;
    o.metadata = o.metadata ?? {};
    if (namespace !== undefined) {
      if (o.metadata.namespace && o.metadata.namespace !== namespace) {
        throw new ApiError(
          statusObject(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
          ),
        );
      }
      o.metadata.namespace = namespace;
    }
    if (!o.metadata.name && !o.metadata.generateName) {
      throw new ApiError(statusObject(422, "Invalid", `${rt.kind} "" is invalid: metadata.name: Required value`));
    }
    delete o.metadata.resourceVersion;
    delete o.metadata.uid;
    delete o.metadata.creationTimestamp;
    return this.create(o);
  }

  /** PUT/PATCH through HTTP: subresource semantics, and a no-op write does not bump the resourceVersion. */
  private httpWrite(rt: ResourceType, current: KObject, next: KObject, statusOnly: boolean): KObject {
    let merged: KObject;
    if (statusOnly) {
      merged = clone(current);
      if (next.status === undefined) delete merged.status;
      else merged.status = clone(next.status);
    } else {
      merged = next;
      if (rt.hasStatus) {
        if (current.status === undefined) delete merged.status;
        else merged.status = clone(current.status);
      }
    }
    const comparable = (o: KObject) => {
      const c = clone(o);
      if (c.metadata) {
        delete c.metadata.resourceVersion;
        delete c.metadata.generation;
      }
      return { ...c, kind: rt.kind, apiVersion: rt.apiVersion };
    };
    const m = merged.metadata ?? {};
    merged.metadata = { ...m, name: current.metadata!.name, namespace: current.metadata!.namespace };
    if (!rt.namespaced) delete merged.metadata.namespace;
    merged.metadata.uid = current.metadata!.uid;
    merged.metadata.creationTimestamp = current.metadata!.creationTimestamp;
    if (deepEqual(comparable(merged), comparable(current))) return clone(current);
    return this.replace(rt, current, merged);
  }

  private serveList(rt: ResourceType, namespace: string | undefined, q: Record<string, string>): unknown {
    const filter: Filter = {
      namespace,
      labels: q.labelSelector ? parseLabelSelector(q.labelSelector) : [],
      fields: q.fieldSelector ? parseFieldSelector(q.fieldSelector) : [],
    };
    const limit = q.limit ? Number.parseInt(q.limit, 10) : 0;
    let snap: ListSnapshot;
    let start = 0;
    if (q.continue) {
      let tok: { id?: string; start?: number; rv?: number };
      try {
        tok = JSON.parse(Buffer.from(q.continue, "base64url").toString("utf8"));
      } catch {
        throw new ApiError(statusObject(400, "BadRequest", "invalid continue token"));
      }
      const s = tok.id ? this.snapshots.get(tok.id) : undefined;
      if (!s) {
        throw new ApiError(
          statusObject(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
          ),
        );
      }
      snap = s;
      start = tok.start ?? 0;
    } else {
      snap = {
        rv: this.rv,
        items: this.sorted(rt)
          .filter((o) => matches(filter, o))
          .map((o) => clone(o)),
        created: Date.now(),
      };
    }
    const end = limit > 0 ? Math.min(start + limit, snap.items.length) : snap.items.length;
    const page = snap.items.slice(start, end).map((o) => {
      const c = clone(o);
      if (!this.opts.listItemsWithTypeMeta) {
        delete c.kind;
        delete c.apiVersion;
      }
      return c;
    });
    const metadata: Record<string, unknown> = { resourceVersion: String(snap.rv) };
    if (end < snap.items.length) {
      const id = randomUUID();
      this.snapshots.set(id, snap);
      // Keep the snapshot map bounded.
      if (this.snapshots.size > 100) this.snapshots.delete(this.snapshots.keys().next().value!);
      metadata.continue = Buffer.from(JSON.stringify({ id, start: end, rv: snap.rv })).toString("base64url");
      metadata.remainingItemCount = snap.items.length - end;
    }
    return { kind: rt.listKind, apiVersion: rt.apiVersion, metadata, items: page };
  }

  private serveWatch(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rec: RecordedRequest,
    p: ParsedPath,
    q: Record<string, string> = rec.query,
  ): void {
    const rt = p.rt;
    const filter: Filter = {
      namespace: p.namespace,
      labels: q.labelSelector ? parseLabelSelector(q.labelSelector) : [],
      fields: q.fieldSelector ? parseFieldSelector(q.fieldSelector) : [],
    };
    const rvParam = q.resourceVersion ?? "";
    let fromRv: number | undefined;
    if (rvParam !== "" && rvParam !== "0") {
      fromRv = Number(rvParam);
      if (!Number.isInteger(fromRv) || fromRv < 0) {
        throw new ApiError(statusObject(400, "BadRequest", `invalid resource version: ${rvParam}`));
      }
      if (fromRv < this.historyStart) {
        const gone = statusObject(410, "Expired", `too old resource version: ${fromRv} (${this.historyStart})`);
        if (this.tooOldMode === "http") {
          this.sendStatus(res, rec, gone);
          return;
        }
        rec.status = 200;
        res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache, private" });
        res.end(`${JSON.stringify({ type: "ERROR", object: gone })}\n`);
        return;
      }
    }
    rec.status = 200;
    res.writeHead(200, {
      "Content-Type": "application/json",
      "Transfer-Encoding": "chunked",
      "Cache-Control": "no-cache, private",
    });
    res.flushHeaders();
    const w: WatchConn = {
      info: {
        id: this.nextWatchId++,
        path: rec.path,
        query: { ...q },
        kind: rt.kind,
        namespace: p.namespace,
        startResourceVersion: rvParam,
        bookmarks: q.allowWatchBookmarks === "true" || q.allowWatchBookmarks === "1",
      },
      rt,
      filter,
      res,
      socket: req.socket,
      bookmarks: q.allowWatchBookmarks === "true" || q.allowWatchBookmarks === "1",
      closed: false,
    };
    // Initial state: RV unset/"0" gets synthetic ADDED events for the current state; RV=N replays history > N.
    if (fromRv === undefined) {
      for (const o of this.sorted(rt)) if (matches(filter, o)) this.send(w, { type: "ADDED", object: clone(o) });
    } else {
      for (const ev of this.history) if (ev.rv > fromRv) this.deliver(w, ev);
    }
    this.watches.add(w);
    // The client went away (or the socket was reset): forget the watch.
    res.on("close", () => this.closeWatch(w, false));
    const timeout = q.timeoutSeconds ? Number(q.timeoutSeconds) : 0;
    if (timeout > 0) w.timeoutTimer = setTimeout(() => this.closeWatch(w, false), timeout * 1000).unref();
    if (this.opts.bookmarkIntervalMs > 0) {
      w.bookmarkTimer = setInterval(() => {
        if (this.wantsBookmarks(w)) this.sendBookmark(w);
      }, this.opts.bookmarkIntervalMs).unref();
    }
    this.notifyWaiters();
  }
}

/** Create a FakeApiServer and start it (random port on 127.0.0.1 unless options.port is set). */
export async function startFakeApiServer(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const s = new FakeApiServer(options);
  await s.start();
  return s;
}

export { kubeConfigObject, kubeconfigFor } from "./kubeconfig.js";
