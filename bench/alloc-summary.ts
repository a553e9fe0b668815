#!/usr/bin/env node

// Sums a sampling heap profile (FXBENCH_ALLOC_PROFILE, alloc-sampling.ts): the
// bytes allocated, per change when told how many applies it covered, by the
// frame that allocated them and by the nearest felix-ts frame of their stack
// (builtins such as Set or Object.assign say little on their own). Bytes are
// load-independent: before and after a change to the code compare as they are.
//
//   node dist/bench/alloc-summary.js <file.heapprofile> [--applies 46] [--top 20]
//
// The bench's change generator (scale.ts, set-estimate.ts, cluster-model.ts)
// runs inside the sampled phase; its share is printed apart from the agent's.

import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";

interface Frame {
  readonly functionName: string;
  readonly url: string;
  /** 0-based. */
  readonly lineNumber: number;
}

interface Node {
  readonly callFrame: Frame;
  readonly selfSize: number;
  readonly children?: readonly Node[];
}

export interface AllocSummary {
  readonly totalBytes: number;
  /** Allocated under the bench's change generator. */
  readonly generatorBytes: number;
  readonly bySelf: readonly (readonly [string, number])[];
  readonly byNearest: readonly (readonly [string, number])[];
}

const GENERATOR = /bench\/(scale|set-estimate|cluster-model)\.js$/;
const ours = (f: Frame) => f.url.includes("/dist/") && !f.url.includes("/node_modules/");
const name = (f: Frame) => `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/dist\//, "")}:${f.lineNumber + 1}`;

export function summarizeAlloc(head: Node): AllocSummary {
  const self = new Map<string, number>();
  const nearest = new Map<string, number>();
  let totalBytes = 0;
  let generatorBytes = 0;
  const stack: Frame[] = [];
  const walk = (n: Node) => {
    stack.push(n.callFrame);
    if (n.selfSize > 0) {
      totalBytes += n.selfSize;
      if (stack.some((f) => GENERATOR.test(f.url))) generatorBytes += n.selfSize;
      const s = name(n.callFrame);
      self.set(s, (self.get(s) ?? 0) + n.selfSize);
      let k = "(no felix-ts frame)";
      for (let i = stack.length - 1; i >= 0; i--) {
        if (ours(stack[i])) {
          k = name(stack[i]);
          break;
        }
      }
      nearest.set(k, (nearest.get(k) ?? 0) + n.selfSize);
    }
    for (const c of n.children ?? []) walk(c);
    stack.pop();
  };
  walk(head);
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return { totalBytes, generatorBytes, bySelf: sorted(self), byNearest: sorted(nearest) };
}

function main(): void {
  const positive = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("a positive integer");
    return n;
  };
  const program = new Command()
    .argument("<file>", "a .heapprofile")
    .option("--applies <n>", "graph+dataplane applies the profile covers (per-change figures)", positive, 1)
    .option("--top <n>", "rows per table", positive, 20)
    .parse();
  const o = program.opts<{ applies: number; top: number }>();
  const s = summarizeAlloc(JSON.parse(readFileSync(program.args[0], "utf8")).head);
  const mb = (b: number) => (b / 1e6).toFixed(2);
  const per = (b: number) => mb(b / o.applies);
  console.log(
    `${mb(s.totalBytes)} MB allocated: ${per(s.totalBytes)} MB per apply, of which the change generator ` +
      `${per(s.generatorBytes)} and the agent ${per(s.totalBytes - s.generatorBytes)}`,
  );
  for (const [title, rows] of [
    ["by allocating frame", s.bySelf],
    ["by nearest felix-ts frame", s.byNearest],
  ] as const) {
    console.log(`\n${title} (MB per apply, share)`);
    for (const [k, b] of rows.slice(0, o.top)) {
      console.log(`${per(b).padStart(7)}  ${((100 * b) / s.totalBytes).toFixed(1).padStart(5)}%  ${k}`);
    }
  }
}

if (process.argv[1]?.endsWith("alloc-summary.js")) main();
