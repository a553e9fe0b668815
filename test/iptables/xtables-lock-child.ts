// Child process for xtables-lock-kernel.test.ts, run inside a throwaway
// namespace with XTABLES_LOCKFILE set to the test's own lock file (the
// machine lock as every legacy iptables here sees it). Runs one scenario of
// the agent's held xtables lock (iptables/xtables-lock.ts) against the real
// legacy tools and prints `RESULT {json}`. Does nothing unless
// FELIX_NETNS_CHILD=xtables-lock (the test runner loads every file under test/).

import { spawn, spawnSync } from "node:child_process";
import { ExecIptablesBackend, RestoreError } from "../../iptables/backend.js";
import { FlockLockFile, machineLockFile, XtablesLock } from "../../iptables/xtables-lock.js";

const save = (family: 4 | 6) =>
  spawnSync(`ip${family === 4 ? "" : "6"}tables-legacy-save`, ["-t", "filter"], { encoding: "utf8" }).stdout;

/**
 * `iptables-legacy -w 1`: gives up (exit 4) after a second while anyone holds the machine lock.
 * (1.8.9 waits without end when not given --wait.)
 */
const tryNow = (chain: string) => spawnSync("iptables-legacy", ["-w", "1", "-N", chain], { encoding: "utf8" });

const chainInput = (chain: string) => [`*filter\n:${chain} - [0:0]\n`, `-A ${chain} -j RETURN\n`, "COMMIT\n"];

/** A program that waits for the machine lock (iptables -w) and its exit code. */
function waiter(chain: string): { exited: () => boolean; code: Promise<number | null> } {
  let done = false;
  const c = spawn("iptables-legacy", ["-w", "60", "-N", chain], { stdio: "ignore" });
  const code = new Promise<number | null>((r) =>
    c.on("close", (n) => {
      done = true;
      r(n);
    }),
  );
  return { exited: () => done, code };
}

async function scenario(name: string): Promise<unknown> {
  const lock = new XtablesLock(new FlockLockFile(machineLockFile(), 10));
  const v4 = new ExecIptablesBackend(4, "legacy", lock);
  const v6 = new ExecIptablesBackend(6, "legacy", lock);
  try {
    switch (name) {
      case "others-wait": {
        // While we hold the lock: iptables -w 1 gives up, iptables -w 60 waits, and
        // our own restores of both families (which take private lock files) go through.
        const release = await lock.hold();
        const refused = tryNow("cali-nowait");
        const w = waiter("cali-waiter");
        await Promise.all([v4.restoreParts(chainInput("cali-ours4")), v6.restoreParts(chainInput("cali-ours6"))]);
        const whileHeld = { waiterExited: w.exited(), waiterChain: save(4).includes(":cali-waiter ") };
        await release();
        const waiterCode = await w.code;
        return {
          refusedCode: refused.status,
          refusedStderr: refused.stderr,
          ours: save(4).includes(":cali-ours4 ") && save(6).includes(":cali-ours6 "),
          whileHeld,
          waiterCode,
          waiterChain: save(4).includes(":cali-waiter "),
        };
      }
      case "overlap": {
        // The IPv4 restore stops before its COMMIT (inside its table, holding its lock file);
        // the IPv6 restore completes meanwhile: the families do not wait for each other.
        let commit4!: () => void;
        const gate = new Promise<void>((r) => {
          commit4 = r;
        });
        const p4 = v4.restoreParts(chainInput("cali-slow4"), { indexes: new Set([2]), until: gate });
        await v6.restoreParts(chainInput("cali-fast6"));
        const v6In = save(6).includes(":cali-fast6 ");
        const v4Yet = save(4).includes(":cali-slow4 ");
        const refused = tryNow("cali-nowait").status;
        commit4();
        await p4;
        return { v6In, v4Yet, refusedWhileOurs: refused, v4In: save(4).includes(":cali-slow4 ") };
      }
      case "failures-release": {
        // A rejected input, and a restore killed before its COMMIT: the lock is free after each.
        let rejected = "";
        try {
          await v4.restoreParts(["*filter\n:cali-bad - [0:0]\n", "-A cali-bad -j cali-nosuch\n", "COMMIT\n"]);
        } catch (e) {
          rejected = e instanceof RestoreError ? "RestoreError" : String(e);
        }
        const afterRejected = tryNow("cali-after1").status;
        let killed = "";
        const setsFailed = Promise.reject(new Error("sets failed"));
        setsFailed.catch(() => {}); // awaited by the restore once it reaches its COMMIT
        try {
          await v4.restoreParts(chainInput("cali-killed"), { indexes: new Set([2]), until: setsFailed });
        } catch (e) {
          killed = (e as Error).message;
        }
        const afterKilled = tryNow("cali-after2").status;
        return { rejected, afterRejected, killed, afterKilled, killedChain: save(4).includes(":cali-killed ") };
      }
      case "busy": {
        // Another program holds the machine lock past our timeout: a lock-contention failure, nothing written.
        const other = spawn("flock", [machineLockFile(), "sh", "-c", "echo held; exec cat >/dev/null"], {
          stdio: ["pipe", "pipe", "inherit"],
        });
        await new Promise((r) => other.stdout.once("data", r));
        const short = new XtablesLock(new FlockLockFile(machineLockFile(), 1));
        let error: { contention: boolean; message: string } | undefined;
        try {
          await new ExecIptablesBackend(4, "legacy", short).restoreParts(chainInput("cali-busy"));
        } catch (e) {
          error = { contention: e instanceof RestoreError && e.lockContention, message: (e as Error).message };
        }
        short.close();
        other.stdin.end();
        await new Promise((r) => other.on("close", r));
        return { error, busyChain: save(4).includes(":cali-busy ") };
      }
      case "hold-forever": {
        // Holds the lock and waits to be killed (the test kills this process).
        await lock.hold();
        process.stdout.write("HELD\n");
        await new Promise(() => setInterval(() => {}, 60_000)); // the helper is unref'ed: stay alive
        return undefined;
      }
      default:
        throw new Error(`unknown scenario ${name}`);
    }
  } finally {
    lock.close();
  }
}

const name = process.env.FELIX_NETNS_CHILD === "xtables-lock" ? process.env.FXT_SCENARIO : undefined;
if (name) process.stdout.write(`RESULT ${JSON.stringify(await scenario(name))}\n`);
