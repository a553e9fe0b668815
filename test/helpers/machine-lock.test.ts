// test/helpers/machine-lock.ts: a second taker waits until the first releases,
// and a holder that dies releases the lock with it.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isRoot, which } from "../../src/netns/topology.js";
import { machineLock } from "./machine-lock.js";
import { skipIf } from "./skip.js";

const skip = (!isRoot() && "needs root (/run)") || (!which("flock") && "needs flock (util-linux)");
const NAME = "machine-lock-test"; // one lock file under /run, kept (removing a flock file under a waiter would split the lock)

test("a second taker waits for the first's release", skipIf(skip), async () => {
  const release = await machineLock(NAME);
  let second = false;
  const taking = machineLock(NAME).then((r) => {
    second = true;
    return r;
  });
  await sleep(300);
  assert.equal(second, false, "taken while held");
  await release();
  const release2 = await taking;
  assert.equal(second, true);
  await release2();
});

test("a holder that dies releases the lock", skipIf(skip), async () => {
  const url = new URL("./machine-lock.js", import.meta.url).href;
  const script = `const { machineLock } = await import(${JSON.stringify(url)}); await machineLock(${JSON.stringify(NAME)}); console.log("held"); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((r) => child.stdout.once("data", () => r()));
  child.kill("SIGKILL");
  const release = await machineLock(NAME);
  await release();
});
