#!/usr/bin/env node

// Matches the bench's sampled changes (FXBENCH_AGENT_SAMPLES) with the felix
// log's collections (gc-log-preload.ts, FXBENCH_FELIX_LOG): per kind, the
// slowest samples with the collections that ran inside them, and how the
// samples with a collection inside compare with those without.
//
//   node dist/bench/gc-samples.js <samples.jsonl> <felix.log> [--slowest 5]

import { readFileSync } from "node:fs";
import { Command } from "commander";
import { dist } from "./measure.js";

interface Sample {
  readonly kind: string;
  readonly i: number;
  readonly written: number;
  readonly programmed: number;
  readonly applyMs?: number;
}
interface Gc {
  readonly gc: string;
  readonly time: number;
  readonly ms: number;
}

const lines = (file: string): unknown[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });

const cmd = new Command("gc-samples")
  .argument("<samples>", "FXBENCH_AGENT_SAMPLES's file")
  .argument("<log>", "FXBENCH_FELIX_LOG's file, written with gc-log-preload.js")
  .option("--slowest <n>", "slowest samples listed per kind", (v) => Number.parseInt(v, 10), 5)
  .parse();
const [samplesFile, logFile] = cmd.args;
const { slowest } = cmd.opts<{ slowest: number }>();
const samples = lines(samplesFile) as Sample[];
const gcs = (lines(logFile) as Partial<Gc>[]).filter((g): g is Gc => typeof g.gc === "string");
/** A collection inside a sample: it started before the change was programmed and ended after it was written. */
const inside = (s: Sample) => gcs.filter((g) => g.time < s.programmed && g.time + g.ms > s.written);
const fmt = (d: ReturnType<typeof dist>) =>
  `p50 ${d.p50.toFixed(0)} / p99 ${d.p99.toFixed(0)} / max ${d.max.toFixed(0)}`;

for (const kind of [...new Set(samples.map((s) => s.kind))]) {
  const of = samples.filter((s) => s.kind === kind);
  const ms = (s: Sample) => s.programmed - s.written;
  const withGc = of.filter((s) => inside(s).some((g) => g.gc !== "minor"));
  const without = of.filter((s) => !withGc.includes(s));
  console.log(`${kind}: ${of.length} samples, ${fmt(dist(of.map(ms)))} ms`);
  if (withGc.length > 0)
    console.log(`  with a major or incremental step inside: ${withGc.length}, ${fmt(dist(withGc.map(ms)))}`);
  if (without.length > 0) console.log(`  without: ${without.length}, ${fmt(dist(without.map(ms)))}`);
  for (const s of [...of].sort((a, b) => ms(b) - ms(a)).slice(0, slowest)) {
    const g = inside(s).map((x) => `${x.gc} ${x.ms.toFixed(1)}`);
    console.log(`  #${s.i}: ${ms(s)} ms (apply ${s.applyMs?.toFixed(0) ?? "?"})${g.length ? `: ${g.join(", ")}` : ""}`);
  }
}
