// Start-up probes whose answer cannot change while one agent process starts:
// a tool's version, whether it runs at all, whether nft can talk to
// nf_tables. Several start-up steps ask the same (preflight, feature
// detection, the leftovers of the other dataplane); each command line runs
// once per process, so a `felix --once` round spawns each probe once.
// For start-up only: what a probe prints may change later (a table list).

import { CommandNotFoundError, type ExecResult, run } from "../iptables/exec.js";

type Exec = (cmd: string, args: readonly string[]) => Promise<ExecResult>;

/** A probe runner that runs each command line once; a CommandNotFoundError is an answer too, other errors are not kept. */
export function probeOnce(exec: Exec = run): Exec {
  const answers = new Map<string, Promise<ExecResult>>();
  return (cmd, args) => {
    const key = JSON.stringify([cmd, ...args]);
    let p = answers.get(key);
    if (!p) {
      p = exec(cmd, args);
      answers.set(key, p);
      p.catch((e: unknown) => {
        if (!(e instanceof CommandNotFoundError)) answers.delete(key);
      });
    }
    return p;
  };
}

/** This process's start-up probes. */
export const startProbe: Exec = probeOnce();
