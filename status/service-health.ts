// kube-proxy's service health checks (pkg/proxy/healthcheck/service_health.go):
// for every Service with a healthCheckNodePort, an HTTP server on that port on
// every address, answering any path:
//
//   200 when this node has a ready local endpoint and the proxy is healthy,
//   503 otherwise (the load balancer then leaves this node out), with
//   Content-Type application/json, X-Content-Type-Options nosniff and the
//   body kube-proxy writes (tab-indented):
//     {"service": {"namespace": …, "name": …}, "localEndpoints": n, "serviceProxyHealthy": bool}
//
// `sync` opens the servers of new services, closes those of services that went
// or changed port, and updates the counts. With --nodeport-addresses the
// servers listen on those addresses only, as kube-proxy's (`hosts`), else on
// every address. A port that cannot be opened (taken
// by another program) is reported through `onError` once per service, port and
// error, and tried again at the next sync; it never stops the agent.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServiceHealthCheck } from "../calc-graph/services/health-checks.js";
import { type HttpListener, listen } from "./http-server.js";

export interface ServiceHealthOptions {
  /** The proxy health server's verdict (serviceProxyHealthy). */
  readonly proxyHealthy: () => boolean;
  /** A port that could not be opened. */
  readonly onError: (check: ServiceHealthCheck, error: Error) => void;
  /** Listen address when `sync` is given none; default every address. */
  readonly host?: string;
}

/** The body kube-proxy writes, byte for byte (Go's %q of plain names is JSON's quoting). */
export function serviceHealthBody(namespace: string, name: string, localEndpoints: number, healthy: boolean): string {
  return [
    "{",
    '\t"service": {',
    `\t\t"namespace": ${JSON.stringify(namespace)},`,
    `\t\t"name": ${JSON.stringify(name)}`,
    "\t},",
    `\t"localEndpoints": ${localEndpoints},`,
    `\t"serviceProxyHealthy": ${healthy}`,
    "}",
  ].join("\n");
}

interface Instance {
  check: ServiceHealthCheck;
  listeners: HttpListener[];
  /** The addresses listened on, as one text. */
  hosts: string;
}

export class ServiceHealthServers {
  private readonly open = new Map<string, Instance>();
  /** `<id> <port> <message>` of failures already reported. */
  private reported = new Set<string>();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly o: ServiceHealthOptions) {}

  /** The ports being served, by service. */
  ports(): Map<string, number> {
    return new Map([...this.open].map(([id, i]) => [id, i.check.port]));
  }

  /**
   * Makes the open servers match `checks` (calls run one after another);
   * `hosts`: the addresses to listen on (undefined: every address).
   */
  sync(checks: ReadonlyMap<string, ServiceHealthCheck>, hosts?: readonly string[]): Promise<void> {
    this.queue = this.queue.then(() => this.syncNow(checks, hosts ?? (this.o.host ? [this.o.host] : [""])));
    return this.queue;
  }

  close(): Promise<void> {
    return this.sync(new Map());
  }

  private async syncNow(checks: ReadonlyMap<string, ServiceHealthCheck>, hosts: readonly string[]): Promise<void> {
    const hostsText = hosts.join(",");
    for (const [id, inst] of [...this.open]) {
      const want = checks.get(id);
      if (want && want.port === inst.check.port && inst.hosts === hostsText) {
        inst.check = want; // the new count
        continue;
      }
      this.open.delete(id);
      for (const l of inst.listeners) await l.close();
    }
    const failures = new Set<string>();
    for (const [id, check] of checks) {
      if (this.open.has(id)) continue;
      const listeners: HttpListener[] = [];
      try {
        for (const host of hosts) listeners.push(await listen(this.handler(id), host, check.port));
        this.open.set(id, { check, listeners, hosts: hostsText });
      } catch (e) {
        // Whatever opened is closed again: the next sync retries the whole service.
        for (const l of listeners) await l.close();
        const key = `${id} ${check.port} ${(e as Error).message}`;
        failures.add(key);
        if (!this.reported.has(key)) this.o.onError(check, e as Error);
      }
    }
    this.reported = failures;
  }

  private handler(id: string) {
    return (req: IncomingMessage, res: ServerResponse): void => {
      const inst = this.open.get(id);
      if (!inst) {
        // Closed between accept and answer (kube-proxy logs and writes nothing).
        res.destroy();
        return;
      }
      const { namespace, name, localEndpoints } = inst.check;
      const healthy = this.o.proxyHealthy();
      res.writeHead(localEndpoints !== 0 && healthy ? 200 : 503, {
        "Content-Type": "application/json",
        "X-Content-Type-Options": "nosniff",
      });
      res.end(req.method === "HEAD" ? undefined : serviceHealthBody(namespace, name, localEndpoints, healthy));
    };
  }
}
