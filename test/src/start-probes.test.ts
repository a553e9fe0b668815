// probeOnce: one run per command line per process; a missing tool is an
// answer too, any other failure is asked again.

import assert from "node:assert/strict";
import { test } from "node:test";
import { CommandNotFoundError, type ExecResult } from "../../iptables/exec.js";
import { probeOnce } from "../../src/start-probes.js";

test("probeOnce runs each command line once; a missing tool is kept, another failure is not", async () => {
  const calls: string[] = [];
  let fail = true;
  const exec = async (cmd: string, args: readonly string[]): Promise<ExecResult> => {
    calls.push([cmd, ...args].join(" "));
    if (cmd === "missing") throw new CommandNotFoundError(`${cmd} not found`);
    if (cmd === "flaky" && fail) throw new Error("EAGAIN");
    return { code: 0, stdout: `${cmd} v1.8.9`, stderr: "" };
  };
  const probe = probeOnce(exec);
  const [a, b] = await Promise.all([probe("nft", ["list", "tables"]), probe("nft", ["list", "tables"])]);
  assert.equal(a, b);
  assert.equal((await probe("nft", ["--version"])).stdout, "nft v1.8.9");
  // Arguments are kept apart: ["a b"] is not ["a", "b"].
  await probe("x", ["a b"]);
  await probe("x", ["a", "b"]);
  for (let i = 0; i < 2; i++) await assert.rejects(probe("missing", ["--version"]), CommandNotFoundError);
  await assert.rejects(probe("flaky", []), /EAGAIN/);
  fail = false;
  assert.equal((await probe("flaky", [])).code, 0, "a transient failure is asked again");
  assert.deepEqual(calls, [
    "nft list tables",
    "nft --version",
    "x a b",
    "x a b",
    "missing --version",
    "flaky",
    "flaky",
  ]);
});
