#!/usr/bin/env node
// What one netlink transaction costs the kernel on a big table, by what it
// holds: `node dist/bench/nft-commit-cost.js [--preset large]` (root; a
// throwaway namespace). The preset's ip table is loaded by nft -f, then each
// kind of batch is written 15 times by the netlink writer: a set element, a
// new chain with a `counter` rule, the same with an `accept` rule, a jump into
// a new chain. A rule with a verdict makes nf_tables validate the whole table
// at commit (a walk through every rule reachable from a base chain).

import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { CalcGraph } from "../calc-graph/calc-graph.js";
import { ExecNftBackend } from "../nftables/backend.js";
import type { NftCommand } from "../nftables/commands.js";
import { NetlinkNftBackend } from "../nftables/netlink/backend.js";
import { RelayTransport } from "../nftables/netlink/relay.js";
import { NFT_RULES } from "../nftables/render.js";
import { renderNftTable } from "../nftables/table-text.js";
import { generateCluster } from "./scale.js";
import { isPresetName, LOCAL_NODE } from "./scale-spec.js";

const { values: o } = parseArgs({ options: { preset: { type: "string", default: "large" } } });
if (!isPresetName(o.preset)) throw new Error(`unknown preset ${o.preset}`);
const ns = `fxnftcost-${randomBytes(3).toString("hex")}`;
execFileSync("ip", ["netns", "add", ns]);
try {
  const cluster = generateCluster(o.preset as Parameters<typeof generateCluster>[0]);
  const graph = new CalcGraph({ nodeName: LOCAL_NODE, proxyMode: "iptables", ruleRenderer: NFT_RULES });
  const state = graph.apply(cluster.updates);
  const text = renderNftTable("ip", state.iptables.ipv4, state.ipsets);
  const load = spawnSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], { input: text, maxBuffer: 1 << 30 });
  if (load.status !== 0) throw new Error(String(load.stderr));
  const w = new NetlinkNftBackend(new ExecNftBackend("ip", ["ip", "netns", "exec", ns]), new RelayTransport(ns));
  const key = { type: "ipv4_addr", interval: false };
  const ctx = { setKey: () => undefined, elementsBefore: () => undefined };
  const kinds: Record<string, (i: number) => NftCommand[]> = {
    "one set element": (i) => [
      { op: "add set", set: `x${i}`, key },
      { op: "add element", set: `x${i}`, key, elements: ["10.9.9.9"] },
    ],
    "new chain + counter rule": (i) => [
      { op: "add chain", chain: `filter-c${i}` },
      { op: "add rule", chain: `filter-c${i}`, rule: 'counter comment "cali:a"' },
    ],
    "new chain + accept rule": (i) => [
      { op: "add chain", chain: `filter-a${i}` },
      { op: "add rule", chain: `filter-a${i}`, rule: 'accept comment "cali:a"' },
    ],
    "jump into a new chain": (i) => [
      { op: "add chain", chain: `filter-t${i}` },
      { op: "add chain", chain: `filter-j${i}` },
      { op: "add rule", chain: `filter-j${i}`, rule: `jump filter-t${i} comment "cali:a"` },
    ],
  };
  console.log(`${o.preset}: ip table of ${(text.length / 1e6).toFixed(1)} MB loaded`);
  for (const [name, cmds] of Object.entries(kinds)) {
    const t: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      const r = await w.write(cmds(i), ctx);
      t.push(performance.now() - t0);
      if (!("bytes" in r)) throw new Error(r.unsupported);
    }
    t.sort((a, b) => a - b);
    console.log(`${name.padEnd(28)} p50 ${t[7].toFixed(1)} ms, min ${t[0].toFixed(1)} ms`);
  }
  w.close();
} finally {
  spawnSync("ip", ["netns", "del", ns]);
}
