// The fake API server in another network namespace: a child process (this
// file, run with FAKE_APISERVER_CHILD=1 under `ip netns exec`) that serves on
// an address the node namespaces can reach, driven over stdin/stdout with one
// JSON command per line. The parent side is RemoteApiServer.

import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { FakeApiServer, type RecordedRequest } from "./fake-apiserver.js";

interface Command {
  id: number;
  op: "create" | "update" | "delete" | "dropWatches" | "stop" | "start" | "requests" | "injectFault" | "clearFaults";
  args: unknown[];
}

if (process.env.FAKE_APISERVER_CHILD === "1") {
  const server = new FakeApiServer({ host: process.env.FAKE_APISERVER_HOST ?? "0.0.0.0" });
  await server.start();
  process.stdout.write(`${JSON.stringify({ ready: server.port })}\n`);
  const rl = createInterface({ input: process.stdin });
  rl.on("line", async (line) => {
    const c = JSON.parse(line) as Command;
    try {
      const f = (server as unknown as Record<string, (...a: unknown[]) => unknown>)[c.op];
      const result = c.op === "requests" ? server.requests : await f.apply(server, c.args);
      process.stdout.write(`${JSON.stringify({ id: c.id, result: result ?? null })}\n`);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ id: c.id, error: (e as Error).message })}\n`);
    }
  });
  rl.on("close", () => void server.close().then(() => process.exit(0)));
}

/** Parent side: a fake API server running in network namespace `netns`, on `host`. */
export class RemoteApiServer {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  readonly ready: Promise<number>;
  port = 0;

  constructor(
    netns: string,
    readonly host: string,
  ) {
    this.child = spawn("ip", ["netns", "exec", netns, process.execPath, fileURLToPath(import.meta.url)], {
      env: { ...process.env, FAKE_APISERVER_CHILD: "1", FAKE_APISERVER_HOST: host },
      stdio: ["pipe", "pipe", "inherit"],
    });
    const lines = createInterface({ input: this.child.stdout! });
    this.ready = new Promise((resolve, reject) => {
      this.child.once("exit", (code) => reject(new Error(`fake API server exited with ${code}`)));
      lines.on("line", (line) => {
        const m = JSON.parse(line) as { ready?: number; id?: number; result?: unknown; error?: string };
        if (m.ready !== undefined) {
          this.port = m.ready;
          resolve(m.ready);
          return;
        }
        const p = this.pending.get(m.id!);
        this.pending.delete(m.id!);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.result);
      });
    });
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  private call(op: Command["op"], ...args: unknown[]): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  create(obj: object) {
    return this.call("create", obj);
  }
  update(obj: object) {
    return this.call("update", obj);
  }
  delete(kind: string, namespace: string | undefined, name: string) {
    return this.call("delete", kind, namespace, name);
  }
  dropWatches() {
    return this.call("dropWatches");
  }
  stop() {
    return this.call("stop");
  }
  start() {
    return this.call("start");
  }
  injectFault(fault: object) {
    return this.call("injectFault", fault);
  }
  clearFaults() {
    return this.call("clearFaults");
  }
  async requests(): Promise<RecordedRequest[]> {
    return (await this.call("requests")) as RecordedRequest[];
  }

  /** Closes the server (the child exits when its stdin ends). */
  async close(): Promise<void> {
    this.child.stdin!.end();
    await new Promise((r) => this.child.once("exit", r));
  }
}
