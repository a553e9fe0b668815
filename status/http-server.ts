// A small node:http listener shared by the health and metrics servers:
// listens, reports the bound address (port 0 picks a free port), and closes
// with its keep-alive connections so the process can exit.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface HttpListener {
  readonly server: Server;
  /** The address actually bound (the real port when 0 was asked for). */
  readonly host: string;
  readonly port: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export function send(
  res: ServerResponse,
  req: IncomingMessage,
  status: number,
  body: string,
  contentType = "application/json",
): void {
  res.writeHead(status, {
    "Content-Type": contentType,
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

/** The path without the query string. */
export function pathOf(req: IncomingMessage): string {
  return (req.url ?? "/").split("?")[0];
}

/** Answers 405 for anything but GET/HEAD; true when it did. */
export function rejectMethod(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === "GET" || req.method === "HEAD") return false;
  res.setHeader("Allow", "GET, HEAD");
  send(res, req, 405, `${JSON.stringify({ error: `method ${req.method} not allowed` })}\n`);
  return true;
}

/** Listens on host:port ("" or undefined host: all interfaces). Rejects on EADDRINUSE and the like. */
export function listen(handler: Handler, host: string | undefined, port: number): Promise<HttpListener> {
  const server = createServer((req, res) => {
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((e: Error) => {
        if (!res.headersSent) send(res, req, 500, `${JSON.stringify({ error: e.message })}\n`);
        else res.destroy(e);
      });
  });
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    server.listen({ host: host || undefined, port }, () => {
      server.off("error", onError);
      const a = server.address() as AddressInfo;
      resolve({
        server,
        host: a.address,
        port: a.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
