// The spawn helper's own process (spawner.ts): started once, small, it starts
// the agent's programs on request over its IPC channel and relays their
// stdio, so the agent's large process is not forked per restore. Programs it
// started are killed when the agent goes (the channel closes).

import { type ChildProcess, spawn } from "node:child_process";
import type { FromHelper, ToHelper } from "./spawner-protocol.js";

const programs = new Map<number, ChildProcess>();
// Not after the agent has gone (its channel closed): that send would throw ERR_IPC_CHANNEL_CLOSED.
const send = (m: FromHelper) => process.connected && process.send?.(m);

function start(m: Extract<ToHelper, { op: "spawn" }>): void {
  const c = spawn(m.cmd, m.args, { stdio: ["pipe", "pipe", "pipe"], ...(m.env ? { env: m.env } : {}) });
  programs.set(m.id, c);
  c.stdout.on("data", (data: Buffer) => send({ op: "out", id: m.id, fd: 1, data }));
  c.stderr.on("data", (data: Buffer) => send({ op: "out", id: m.id, fd: 2, data }));
  c.stdin.on("error", () => {}); // the program may exit before reading all input
  c.on("error", (e: NodeJS.ErrnoException) => send({ op: "error", id: m.id, code: e.code, message: e.message }));
  c.on("close", (code, signal) => {
    programs.delete(m.id);
    send({ op: "close", id: m.id, code, signal });
  });
}

process.on("message", (m: ToHelper) => {
  if (m.op === "spawn") return start(m);
  const c = programs.get(m.id);
  if (!c) return;
  if (m.op === "write") c.stdin?.write(m.data, () => send({ op: "written", id: m.id }));
  else if (m.op === "end") c.stdin?.end();
  else if (m.op === "kill") c.kill(m.signal);
});

const exit = () => {
  for (const c of programs.values()) c.kill("SIGKILL");
  process.exit(0);
};
process.on("disconnect", exit);
// An agent done before this helper was up (a `--once` with nothing to change) has closed the channel already.
if (process.connected) send({ op: "ready", id: 0 });
else exit();
