#!/usr/bin/env node
// The kernel time of one service change by the number of nat tables the
// services are spread over (model/nat-shards.ts): `node dist/bench/nft-service-commit.js
// [--preset large] [--proxy-mode iptables|nftables] [--shards 1,8] [--samples 15]`
// (root; a throwaway namespace per N; strace). The preset's ip tables,
// rendered with N nat tables, are loaded by nft -f; then service endpoints
// are added (and removed again) through the syncer and the netlink writer,
// as the agent writes them, and `strace -T` of the relay's `sendmsg` gives
// the time the kernel spends in each batch (the commit, with the table
// validation it runs, happens inside that syscall).

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { CalcGraph } from "../calc-graph/calc-graph.js";
import type { ProxyMode } from "../calc-graph/services/model.js";
import { ExecNftBackend } from "../nftables/backend.js";
import { NetlinkNftBackend } from "../nftables/netlink/backend.js";
import { RelayTransport } from "../nftables/netlink/relay.js";
import { NFT_RULES } from "../nftables/render.js";
import { NftTableSyncer } from "../nftables/table-syncer.js";
import { renderNftTable } from "../nftables/table-text.js";
import { generateCluster } from "./scale.js";
import { isPresetName, LOCAL_NODE } from "./scale-spec.js";

const { values: o } = parseArgs({
  options: {
    preset: { type: "string", default: "large" },
    "proxy-mode": { type: "string", default: "iptables" },
    shards: { type: "string", default: "1,8" },
    samples: { type: "string", default: "15" },
  },
});
if (!isPresetName(o.preset)) throw new Error(`unknown preset ${o.preset}`);
const SAMPLES = Number(o.samples);

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

async function measure(natShards: number): Promise<void> {
  const ns = `fxsvcc-${randomBytes(3).toString("hex")}`;
  const trace = `/tmp/${ns}.strace`;
  execFileSync("ip", ["netns", "add", ns]);
  try {
    const cluster = generateCluster(o.preset as Parameters<typeof generateCluster>[0]);
    const graph = new CalcGraph({
      nodeName: LOCAL_NODE,
      proxyMode: o["proxy-mode"] as ProxyMode,
      ruleRenderer: { ...NFT_RULES, natShards },
    });
    let state = graph.apply(cluster.updates);
    const load = spawnSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], {
      input: renderNftTable("ip", state.iptables.ipv4, state.ipsets, state.nftObjects),
      maxBuffer: 1 << 30,
    });
    if (load.status !== 0) throw new Error(String(load.stderr));
    const transport = new RelayTransport(ns);
    const backend = new NetlinkNftBackend(new ExecNftBackend("ip", ["ip", "netns", "exec", ns]), transport);
    const syncer = new NftTableSyncer(backend);
    const apply = () => syncer.apply(state.iptables.ipv4, state.ipsets, state.nftObjects);
    await apply(); // reads the tables back: nothing to write
    // `ip netns exec` execs node: the child's pid is the relay's, which does every sendmsg.
    const pid = (transport as unknown as { child: { pid: number } }).child.pid;
    const strace = spawn("strace", ["-T", "-e", "trace=sendmsg", "-p", String(pid), "-o", trace]);
    await sleep(500);
    let fallbacks = 0;
    for (let i = 0; i < SAMPLES; i++) {
      const c = cluster.change("service-endpoint-added");
      state = graph.apply(c.forward);
      if ((await apply()).via === "nft") fallbacks++;
      state = graph.apply(c.revert);
      if ((await apply()).via === "nft") fallbacks++;
    }
    await sleep(200);
    strace.kill("SIGINT");
    await new Promise((r) => strace.once("exit", r));
    const secs = [...readFileSync(trace, "utf8").matchAll(/^sendmsg\(.*<([0-9.]+)>$/gm)].map(
      (m) => Number(m[1]) * 1000,
    );
    console.log(
      `${o.preset}, FELIX_PROXYMODE=${o["proxy-mode"]}, ${natShards} nat table(s): ${secs.length} batches, kernel ms per service change p50 ${pct(secs, 0.5).toFixed(1)}, p90 ${pct(secs, 0.9).toFixed(1)}, max ${Math.max(...secs).toFixed(1)}; through nft -f: ${fallbacks}`,
    );
    backend.close();
  } finally {
    rmSync(trace, { force: true });
    spawnSync("ip", ["netns", "del", ns]);
  }
}

for (const n of (o.shards ?? "1,8").split(",").map(Number)) await measure(n);
