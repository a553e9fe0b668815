// Attack, in the kernel: a pod floods packets that policy drops (any pod can),
// so the NFLOG reports overrun the listener's socket and recv fails with
// ENOBUFS. The listener must say so and keep listening: before, it died, and
// felix_denied_packets_total and `drops --live` went blind for good (the agent
// starts the listener only when dropNflogGroup changes). The flood is made
// deterministic by stopping the listener (SIGSTOP) while 300,000 reports queue.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { run } from "../../iptables/exec.js";
import { requirementsMissing } from "../../src/netns/topology.js";
import { nflogListener } from "../../src/nflog-reader.js";
import { skipIf } from "../helpers/skip.js";

const NS = `secnf${process.pid}`;
const GROUP = "19";
const inNs = (cmd: string, ...args: string[]) => run("ip", ["netns", "exec", NS, cmd, ...args]);
const send = (count: number, sport: number) =>
  inNs(
    "python3",
    "-c",
    `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('127.0.0.1',${sport}))\n` +
      `for i in range(${count}): s.sendto(b'x'*64,('127.0.0.1',9))`,
  );

describe("NFLOG listener under a flood of drops", skipIf(requirementsMissing()), () => {
  let listener: ChildProcess;
  let bound: Promise<boolean>;
  /** Substrings of the listener's output lines waited for, with their resolvers. */
  const waits: { text: string; resolve: (seen: boolean) => void }[] = [];
  const seenTexts = new Set<string>();

  /** Resolves true when a line holding `text` comes (registered before the traffic), false if the listener exits. */
  const seen = (text: string) => new Promise<boolean>((resolve) => waits.push({ text, resolve }));

  before(async () => {
    await run("ip", ["netns", "del", NS]);
    assert.equal((await run("ip", ["netns", "add", NS])).code, 0);
    await inNs("ip", "link", "set", "lo", "up");
    const r = await inNs(
      "iptables",
      "-A",
      "OUTPUT",
      "-p",
      "udp",
      "--dport",
      "9",
      "-j",
      "NFLOG",
      "--nflog-group",
      GROUP,
    );
    assert.equal(r.code, 0, r.stderr);
    // nsenter execs in place (ip netns exec forks): the pid is python's, for SIGSTOP.
    listener = spawn("nsenter", [`--net=/var/run/netns/${NS}`, "python3", nflogListener()!, GROUP], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    bound = seen('"listening"');
    listener.on("exit", () => {
      for (const w of waits.splice(0)) w.resolve(seenTexts.has(w.text));
    });
    void (async () => {
      for await (const line of createInterface({ input: listener.stdout! })) {
        for (const w of [...waits]) {
          if (!line.includes(w.text)) continue;
          seenTexts.add(w.text);
          waits.splice(waits.indexOf(w), 1);
          w.resolve(true);
        }
      }
    })();
  });

  after(async () => {
    listener?.kill("SIGKILL");
    await run("ip", ["netns", "del", NS]);
  });

  test("an overrun is reported and later drops are still reported", async () => {
    assert.ok(await bound, "listener bound");
    process.kill(listener.pid!, "SIGSTOP");
    const overrun = seen('"overrun": true');
    const flood = await send(300_000, 4000);
    assert.equal(flood.code, 0, flood.stderr);
    process.kill(listener.pid!, "SIGCONT");
    assert.ok(await overrun, "the overrun is reported");
    // After the flood, drops are still reported. A drop sent while the backlog
    // still fills the socket is lost like the flood's, so one is sent again
    // until one is reported (bounded; no time is asserted).
    const late = seen('"sport": 4242');
    let reported = false;
    void late.then((v) => (reported = v));
    for (let i = 0; i < 50 && !reported; i++) {
      assert.equal((await send(1, 4242)).code, 0);
      await Promise.race([late, new Promise((r) => setTimeout(r, 200))]);
    }
    assert.ok(reported, "a drop after the flood is reported: the listener survived");
    assert.equal(listener.exitCode, null);
  });
});
