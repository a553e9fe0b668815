// The spawn helper (iptables/spawner.ts) behind run(): programs started by it
// behave as forked ones (stdin streamed in parts with holds and back-pressure,
// stdout/stderr, exit codes, a missing program, a hold that rejects kills the
// program before it reads on); a helper that dies fails its programs and the
// next program starts a new one; an agent killed however leaves no program of
// its helper behind.

import assert from "node:assert/strict";
import { fork, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { CommandNotFoundError, run } from "../../iptables/exec.js";
import { SpawnHelper } from "../../iptables/spawner.js";
import { until } from "../helpers/until.js";

const helper = new SpawnHelper();
after(() => helper.close());
const via = { spawn: helper.spawn };

test("once up, the helper starts the programs: their parent is not this process", async () => {
  await helper.open();
  const parent = Number((await run("sh", ["-c", "echo $PPID"], "", undefined, via)).stdout);
  assert.notEqual(parent, process.pid);
  assert.equal(readFileSync(`/proc/${parent}/cmdline`, "utf8").includes("spawner-child.js"), true);
});

test("a program's stdin, streamed in parts past the pipe's buffer, comes back whole on its stdout", async () => {
  const parts: string[] = [];
  for (let i = 0; i < 20_000; i++) parts.push(`line ${i} `, "x".repeat(50), "\n");
  const r = await run("cat", [], parts, undefined, via);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, parts.join(""));
});

test("exit codes, stderr and the environment given come through", async () => {
  const r = await run("sh", ["-c", 'echo "$FXT_VAR" >&2; exit 3'], "", undefined, {
    ...via,
    env: { ...process.env, FXT_VAR: "from-env" },
  });
  assert.equal(r.code, 3);
  assert.equal(r.stderr, "from-env\n");
});

test("a missing program is a CommandNotFoundError", async () => {
  await assert.rejects(run("felix-no-such-program", [], "", undefined, via), CommandNotFoundError);
});

test("a hold that rejects kills the program before it reads the held part", async () => {
  const failed = Promise.reject(new Error("sets failed"));
  failed.catch(() => {});
  // The program prints what it read once its input ends: killed first, it prints nothing.
  const r = run("sh", ["-c", "cat; echo done"], ["first\n", "second\n"], { indexes: new Set([1]), until: failed }, via);
  await assert.rejects(r, /sets failed/);
});

test("a helper that dies fails its running programs; the next program starts a new helper", async () => {
  const own = new SpawnHelper();
  await own.open();
  // The sleep outlives the helper killed under it (an orphan): its pid is kept to end it after.
  const dir = mkdtempSync(join(tmpdir(), "spawner-"));
  const pidFile = join(dir, "sleep.pid");
  try {
    const running = run("sh", ["-c", `echo $$ > ${pidFile}; exec sleep 600`], "", undefined, { spawn: own.spawn });
    // The sleep's parent is the helper: kill the helper.
    const pidOfHelper = await firstLine(run("sh", ["-c", "echo $PPID"], "", undefined, { spawn: own.spawn }));
    process.kill(Number(pidOfHelper), "SIGKILL");
    await assert.rejects(running, /spawn helper exited/);
    // Until the new helper is up, programs are forked from this process; then the helper starts them again.
    const r = await run("echo", ["again"], "", undefined, { spawn: own.spawn });
    assert.equal(r.stdout, "again\n");
    await own.open();
    assert.notEqual(
      await firstLine(run("sh", ["-c", "echo $PPID"], "", undefined, { spawn: own.spawn })),
      String(process.pid),
    );
  } finally {
    own.close();
    try {
      process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an agent killed while its helper runs a program leaves no program behind", async () => {
  const child = spawn(process.execPath, [fileURLToPath(new URL("./spawner-agent-child.js", import.meta.url))], {
    env: { ...process.env, FELIX_NETNS_CHILD: "spawner-agent" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const pid = Number(
    await new Promise<string>((resolve) => child.stdout.once("data", (d: Buffer) => resolve(d.toString().trim()))),
  );
  assert.ok(alive(pid), "the helper's program runs");
  child.kill("SIGKILL");
  // The helper notices the closed channel and kills what it started (20 s bound: a loaded machine).
  await until(() => !alive(pid), "the program to go with the agent");
});

test("an agent gone before its helper is up: the helper exits 0 and prints nothing (no ERR_IPC_CHANNEL_CLOSED)", async () => {
  // A `--once` with nothing to change closes the helper while it is still loading.
  const child = fork(fileURLToPath(new URL("../../iptables/spawner-child.js", import.meta.url)), [], {
    serialization: "advanced",
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const ended = new Promise((resolve) => child.stderr?.once("end", resolve));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.disconnect();
  const keep = setInterval(() => {}, 1000); // the disconnected child alone does not keep this process running
  const [code] = await Promise.all([exited, ended]).finally(() => clearInterval(keep));
  assert.equal(stderr, "");
  assert.equal(code, 0);
});

async function firstLine(r: ReturnType<typeof run>): Promise<string> {
  return (await r).stdout.split("\n")[0];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
