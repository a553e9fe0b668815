// The requests the agent makes of the API server, raw over node:http(s) with
// the kubeconfig's TLS and credentials: a LIST page as JSON, a WATCH as a
// stream of events (one JSON object a line), and the status writes. Raw, because the generated
// client's typed calls rename fields (a NetworkPolicy peer's `from` becomes
// `_from`) and turn timestamps into Dates, while the file datastore reads what
// the API server sends. Both stop at once when their signal aborts, and both
// bound what they hold: a reply that never ends must not exhaust the node.

import * as http from "node:http";
import * as https from "node:https";
import type { KubeObject } from "../../model/k8s.js";
import type { KubeAccess } from "./kube-config.js";

/** One LIST page: far above any real page (500 objects of at most ~1.5 MB each, etcd's limit, are rare). */
const MAX_PAGE_BYTES = 256 * 1024 * 1024;
/** One watch event: an object is at most ~1.5 MB in etcd; JSON escaping can double it. */
const MAX_EVENT_BYTES = 16 * 1024 * 1024;

export class ApiError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

export interface KubeList {
  readonly items?: KubeObject[];
  readonly metadata?: { resourceVersion?: string; continue?: string };
}

export interface WatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  readonly object: KubeObject & { code?: number; message?: string; reason?: string };
}

/** The collection URL on the current cluster. */
export function apiUrl(kc: KubeAccess, path: string, query: Record<string, string>): URL {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error("no current cluster in the kubeconfig");
  const url = new URL(server.replace(/\/$/, "") + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return url;
}

/** The verbs the agent uses: GET (LIST, WATCH), PATCH (its node's status), POST (events). */
type Method = "GET" | "PATCH" | "POST";

/** Sends a request; resolves with the response once its head is in (any status). */
async function request(
  kc: KubeAccess,
  url: URL,
  signal: AbortSignal,
  method: Method = "GET",
  body?: { contentType: string; data: string },
): Promise<http.IncomingMessage> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body) headers["Content-Type"] = body.contentType;
  const opts: https.RequestOptions = { method, headers, signal };
  await kc.applyToHTTPSOptions(opts);
  signal.throwIfAborted();
  const mod = url.protocol === "http:" ? http : https;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, opts, resolve);
    // A peer that vanishes without a FIN is noticed (a watch may be quiet for minutes).
    req.on("socket", (s) => s.setKeepAlive(true, 30_000));
    req.on("error", reject);
    req.end(body?.data);
  });
}

/** A write (PATCH or POST) with a JSON body; throws an ApiError unless the answer is 2xx. */
export async function send(
  kc: KubeAccess,
  method: "PATCH" | "POST",
  path: string,
  body: object,
  contentType = "application/json",
  timeoutMs = 30_000,
): Promise<void> {
  const url = apiUrl(kc, path, {});
  const what = `${method} ${url.pathname}`;
  const res = await request(kc, url, AbortSignal.timeout(timeoutMs), method, {
    contentType,
    data: JSON.stringify(body),
  });
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 299) throw await failure(res, what);
  res.resume();
}

/** The whole body as text, at most `max` bytes. */
function readBody(res: http.IncomingMessage, what: string, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        res.destroy(new Error(`${what}: reply larger than ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on("end", () => resolve(Buffer.concat(chunks).toString()));
    res.on("error", reject);
    res.on("aborted", () => reject(new Error(`${what}: reply cut short`)));
  });
}

async function failure(res: http.IncomingMessage, what: string): Promise<ApiError> {
  const body = await readBody(res, what, 64 * 1024).catch(() => "");
  return new ApiError(`${what}: HTTP ${res.statusCode} ${body.slice(0, 200)}`, res.statusCode ?? 0);
}

/** GET of one LIST page. */
export async function listPage(kc: KubeAccess, url: URL, signal: AbortSignal): Promise<KubeList> {
  const what = `GET ${url.pathname}`;
  const res = await request(kc, url, signal);
  if (res.statusCode !== 200) throw await failure(res, what);
  const body = await readBody(res, what, MAX_PAGE_BYTES);
  try {
    return JSON.parse(body) as KubeList;
  } catch (e) {
    throw new Error(`${what}: invalid JSON: ${(e as Error).message}`);
  }
}

/**
 * A WATCH's events, in order, until the server ends the stream or the signal
 * aborts (then it throws). A non-200 answer throws an ApiError with its status.
 */
export async function* watchEvents(kc: KubeAccess, url: URL, signal: AbortSignal): AsyncGenerator<WatchEvent> {
  const what = `WATCH ${url.pathname}`;
  const res = await request(kc, url, signal);
  if (res.statusCode !== 200) throw await failure(res, what);
  res.setEncoding("utf8");
  let rest = "";
  for await (const chunk of res as AsyncIterable<string>) {
    let from = 0;
    let nl = chunk.indexOf("\n");
    while (nl >= 0) {
      const line = rest + chunk.slice(from, nl);
      rest = "";
      from = nl + 1;
      nl = chunk.indexOf("\n", from);
      if (line.trim() === "") continue;
      yield parseEvent(line, what);
    }
    rest += chunk.slice(from);
    if (rest.length > MAX_EVENT_BYTES) {
      res.destroy();
      throw new Error(`${what}: an event larger than ${MAX_EVENT_BYTES} bytes`);
    }
  }
  // A stream cut without its terminator ends the loop quietly: that is a failure, not a clean end.
  if (!res.complete) throw new Error(`${what}: stream cut short`);
  if (rest.trim() !== "") yield parseEvent(rest, what);
}

function parseEvent(line: string, what: string): WatchEvent {
  let ev: WatchEvent;
  try {
    ev = JSON.parse(line) as WatchEvent;
  } catch (e) {
    throw new Error(`${what}: invalid JSON event: ${(e as Error).message}`);
  }
  if (typeof ev !== "object" || ev === null || typeof ev.type !== "string" || typeof ev.object !== "object")
    throw new Error(`${what}: not a watch event`);
  return ev;
}
