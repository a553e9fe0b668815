// Peak RSS of the real agent, variants alternating so each sees the same
// machine load: per round and variant, the file datastore (`felix --once`
// cold, then the daemon cold and after --churn random changes) and/or the
// Kubernetes datastore (the daemon, the same). A variant is a build, node
// flags and environment, e.g.
//
//   node dist/bench/agent-memory.js --preset large --churn 10000 --rounds 2 \
//     --what file,kubernetes --variant base=dist-base/src/cli/felix.js --variant new=
//
// A variant's spec is space-separated: `--flag` goes to node before felix.js,
// `NAME=value` to felix's environment, a path ending in .js is the build.
// With --probe, bench/mem-probe.js is preloaded and its figures (V8 heap
// spaces, external, array buffers: latest and peak) printed; with --snapshots,
// felix is sent SIGUSR2 at both points (a variant with
// --heapsnapshot-signal=SIGUSR2 writes a heap snapshot each time). Root.

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type AgentOptions, type DaemonFigures, fileDatastoreRuns, kubernetesRuns } from "./agent.js";
import type { AgentMemory } from "./agent-process.js";
import { CHANGE_KINDS, SyntheticCluster } from "./scale.js";
import { isPresetName, PRESETS } from "./scale-spec.js";

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const preset = arg("--preset", "large");
if (!isPresetName(preset)) throw new Error(`unknown preset ${preset}`);
const churn = Number(arg("--churn", "10000"));
const rounds = Number(arg("--rounds", "1"));
const what = arg("--what", "file,kubernetes").split(",");
const probe = argv.includes("--probe");
const snapshots = argv.includes("--snapshots");
const variants = argv
  .flatMap((a, i) => (a === "--variant" ? [argv[i + 1]] : []))
  .map((v) => {
    const [label, spec = ""] = v.split(/=(.*)/s);
    const tokens = spec.split(/\s+/).filter(Boolean);
    const env: Record<string, string> = {};
    for (const t of tokens.filter((t) => !t.startsWith("--") && t.includes("="))) {
      const [k, val] = t.split(/=(.*)/s);
      env[k] = val;
    }
    const felix = tokens.find((t) => t.endsWith(".js") && !t.startsWith("--"));
    return { label, nodeArgs: tokens.filter((t) => t.startsWith("--")), env, felix: felix && resolve(felix) };
  });
if (variants.length === 0) variants.push({ label: "this build", nodeArgs: [], env: {}, felix: undefined });

const say = (msg: string) => process.stderr.write(`· ${msg}\n`);
const live = new Set<string>();
const netns = {
  create: () => {
    const name = `fxmem-${process.pid}-${randomBytes(3).toString("hex")}`;
    spawnSync("ip", ["netns", "add", name]);
    live.add(name);
    return name;
  },
  remove: (name: string) => {
    spawnSync("ip", ["netns", "del", name]);
    live.delete(name);
  },
};
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.once(sig, () => {
    for (const name of live) spawnSync("ip", ["netns", "del", name]);
    process.exit(130);
  });
const probeFile = `/tmp/fxmem-probe-${process.pid}.json`;
const probeJs = fileURLToPath(new URL("./mem-probe.js", import.meta.url));

const fmt = (m: AgentMemory) =>
  `RSS ${m.rssMB.toFixed(0)} (anon ${m.anonMB.toFixed(0)}, file ${m.fileMB.toFixed(0)}), VmHWM ${m.hwmMB.toFixed(0)} MB, CPU ${m.cpuS.toFixed(1)} s`;
function probeNote(): string {
  if (!probe || !existsSync(probeFile)) return "";
  const p = JSON.parse(readFileSync(probeFile, "utf8")) as Record<string, Record<string, number> | number>;
  const show = (o: Record<string, number>) =>
    Object.entries(o)
      .filter(([, v]) => v >= 1)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
  return `\n    latest: ${show(p.last as Record<string, number>)}\n    peak: ${show(p.peak as Record<string, number>)}\n    gcs ${p.gcs}, gc ms ${p.gcMs}`;
}

const rows: string[] = [];
const line = (label: string, kind: string, d: DaemonFigures) =>
  rows.push(
    `${label.padEnd(14)} ${kind.padEnd(11)} cold ${(d.coldMs / 1000).toFixed(1)} s, VmHWM cold ${d.hwmColdMB?.toFixed(0)} MB, ` +
      `RSS cold ${d.rssColdMB.toFixed(0)}, after ${d.churn} ${d.rssAfterChurnMB.toFixed(0)}, VmHWM ${d.peakRssMB.toFixed(0)} MB`,
  );
const make = () => new SyntheticCluster(PRESETS[preset], 1);
for (let r = 0; r < rounds; r++) {
  for (const v of variants) {
    const o: AgentOptions = {
      backend: "legacy",
      proxyMode: "iptables",
      samples: 0,
      kinds: CHANGE_KINDS,
      onceRuns: 1,
      churn,
      kubernetes: true,
      felix: v.felix,
      nodeArgs: probe ? ["--import", probeJs, ...v.nodeArgs] : v.nodeArgs,
      env: probe ? { ...v.env, FXBENCH_MEMPROBE: probeFile } : v.env,
      onMemory: (stage, m) => {
        say(`  ${v.label} ${stage}: ${fmt(m)}${probeNote()}`);
        // With --heapsnapshot-signal=SIGUSR2 among the variant's flags: a snapshot in the working directory.
        if (snapshots) process.kill(m.pid, "SIGUSR2");
      },
    };
    rmSync(probeFile, { force: true });
    if (what.includes("file")) {
      say(`round ${r + 1}, ${v.label}: file datastore`);
      const f = await fileDatastoreRuns(make, netns, o);
      rows.push(
        `${v.label.padEnd(14)} once        ${((f.once?.ms ?? 0) / 1000).toFixed(1)} s (CPU ${f.once?.cpuS?.toFixed(1)} s), peak ${f.once?.peakRssMB.toFixed(0)} MB`,
      );
      if (f.daemon) line(v.label, "file", f.daemon);
    }
    rmSync(probeFile, { force: true });
    if (what.includes("kubernetes")) {
      say(`round ${r + 1}, ${v.label}: Kubernetes datastore`);
      line(v.label, "kubernetes", await kubernetesRuns(make, netns, o));
    }
    process.stdout.write(`${rows.join("\n")}\n`);
    rows.length = 0;
  }
}
