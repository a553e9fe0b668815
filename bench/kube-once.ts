// Peak RSS of `felix --once` against the fake API server holding a preset's
// cluster, with FELIX_NFTABLESMODE set and unset (unset: the FelixConfigurations
// choose the dataplane; the Kubernetes datastore lists them first, so the rest
// of the first batch streams into the graph either way). Runs alternate so both
// see the same machine load; the first run programs the namespace, the measured
// ones find it in sync, or with --fresh our iptables chains and IP sets are
// removed before each, so every run writes them all. With --daemon, the daemon
// instead: its VmHWM once its first snapshot is programmed. Root.
//
//   node dist/bench/kube-once.js [--preset large] [--rounds 3] [--fresh] [--daemon] [--felix a.js,b.js]

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KubeObject } from "../model/k8s.js";
import { shebangNodeFlags } from "../src/cli/node-flags.js";
import { kubeconfigFor } from "../test/helpers/kubeconfig.js";
import { RemoteApiServer } from "../test/helpers/remote-apiserver.js";
import { setUpLinks } from "./agent.js";
import { generateCluster } from "./scale.js";
import { isPresetName, LOCAL_NODE } from "./scale-spec.js";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const preset = arg("--preset", "large");
if (!isPresetName(preset)) throw new Error(`unknown preset ${preset}`);
const rounds = Number(arg("--rounds", "3"));
const fresh = process.argv.includes("--fresh");
const asDaemon = process.argv.includes("--daemon");
const felixes = arg("--felix", fileURLToPath(new URL("../src/cli/felix.js", import.meta.url))).split(",");

/** Removes the namespace's iptables rules and chains (legacy, as the runs use) and IP sets. */
function reset(ns: string): void {
  for (const bin of ["iptables-legacy", "ip6tables-legacy"]) {
    for (const table of ["raw", "mangle", "nat", "filter"]) {
      for (const op of ["-F", "-X"]) spawnSync("ip", ["netns", "exec", ns, bin, "-w", "-t", table, op]);
    }
  }
  spawnSync("ip", ["netns", "exec", ns, "ipset", "destroy"]);
}

/** One `felix --once` under /usr/bin/time -v: its exit code and peak RSS (MB). */
async function runFelix(ns: string, felix: string, kubeconfig: string, nftEnv: string | undefined) {
  const env: NodeJS.ProcessEnv = { ...process.env, FELIX_PROXYMODE: "iptables", FELIX_IPTABLESBACKEND: "legacy" };
  delete env.FELIX_NFTABLESMODE;
  if (nftEnv) env.FELIX_NFTABLESMODE = nftEnv;
  const node = [process.execPath, ...shebangNodeFlags(felix), felix];
  const args = ["netns", "exec", ns, "/usr/bin/time", "-v", ...node, "--datastore", "kubernetes"];
  args.push("--kubeconfig", kubeconfig, "--node-name", LOCAL_NODE, "--log-format", "json");
  if (!asDaemon) args.push("--once");
  const c = spawn("ip", args, { env, stdio: ["ignore", "ignore", "pipe"] }); // the log goes to stderr
  let err = "";
  let hwm = Number.NaN;
  c.stderr.on("data", (d) => {
    err += d;
    // The daemon: its high-water mark once the first snapshot is programmed, then stop it.
    if (!asDaemon || !Number.isNaN(hwm) || !/"msg":"dataplane (programmed|already in sync)/.test(err)) return;
    const node = spawnSync("pgrep", ["-P", String(c.pid), "-f", felix], { encoding: "utf8" }).stdout.trim();
    const status = readFileSync(`/proc/${node}/status`, "utf8");
    hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    process.kill(Number(node), "SIGTERM");
  });
  const exit = await new Promise<number | null>((r) => c.on("close", r));
  const kb = asDaemon ? hwm : Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1] ?? Number.NaN);
  if (exit !== 0) process.stderr.write(`felix exited ${exit}: ${err.slice(-400)}\n`);
  return { exit, mb: Math.round(kb / 1024) };
}

const ns = `fxkonce-${process.pid}`;
const work = mkdtempSync(join(tmpdir(), "fxkonce-"));
spawnSync("ip", ["netns", "add", ns]);
try {
  const cluster = generateCluster(preset);
  await setUpLinks(ns, cluster);
  const api = new RemoteApiServer(ns, "127.0.0.1");
  await api.ready;
  try {
    for (let i = 0; i < cluster.updates.length; i += 500) {
      const part = cluster.updates.slice(i, i + 500).filter((u) => u.value);
      await Promise.all(part.map((u) => api.create(u.value as KubeObject)));
    }
    const kubeconfig = kubeconfigFor({ url: api.url }, { dir: work });
    await runFelix(ns, felixes[0], kubeconfig, "Disabled"); // programs the namespace
    const runs: Record<string, number[]> = {};
    for (let r = 0; r < rounds; r++) {
      for (const felix of felixes) {
        for (const nftEnv of ["Disabled", undefined]) {
          if (fresh) reset(ns);
          const { exit, mb } = await runFelix(ns, felix, kubeconfig, nftEnv);
          const key = `${felix} FELIX_NFTABLESMODE=${nftEnv ?? "(unset)"}`;
          runs[key] = [...(runs[key] ?? []), exit === 0 ? mb : Number.NaN];
          process.stderr.write(`· ${key}: ${mb} MB (exit ${exit})\n`);
        }
      }
    }
    for (const [key, mbs] of Object.entries(runs)) console.log(`${key}: peak RSS ${mbs.join(", ")} MB`);
  } finally {
    await api.close();
  }
} finally {
  spawnSync("ip", ["netns", "del", ns]);
  rmSync(work, { recursive: true, force: true });
}
