#!/usr/bin/env node

// The nftables kernel side on a synthetic cluster (bench/scale.ts), as root in
// a throwaway network namespace: `node dist/bench/nft-preset.js [--preset
// small|medium|large] [--samples 20] [--proxy-mode iptables|nftables|off]
// [--writer netlink|nft]`. The graph renders nft rules (NFT_RULES); changes
// are written over netlink (through a relay child in the namespace) or with
// nft -f; the figures are the kernel side's only:
//   floor     bare `nft -f` of the rendered tables (both families) into an empty namespace;
//   cold      NftTableSyncer.apply for each family from no table (render, one transaction each);
//   per kind  graph.apply(change) → both families' apply, p50/p99 wall and nft time, bytes
//             (each change reverted, untimed, before the next: the same baseline throughout);
//   refresh   a read-back of both tables (netlink dumps, or nft -j list) and a diff that finds nothing.
// The graph's own time is left out (bench/run.ts measures it).

import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { CalcGraph } from "../calc-graph/calc-graph.js";
import type { DesiredState } from "../calc-graph/desired-state.js";
import type { ProxyMode } from "../calc-graph/services/model.js";
import { ipSetCount, ipSetList } from "../model/ipset-shards.js";
import { ExecNftBackend, type NftBackend, type NftFamily } from "../nftables/backend.js";
import { NetlinkNftBackend } from "../nftables/netlink/backend.js";
import { RelayTransport } from "../nftables/netlink/relay.js";
import { NFT_RULES } from "../nftables/render.js";
import { NftTableSyncer } from "../nftables/table-syncer.js";
import { renderNftTable } from "../nftables/table-text.js";
import { CHANGE_KINDS, generateCluster } from "./scale.js";
import { isPresetName, LOCAL_NODE } from "./scale-spec.js";

const { values: o } = parseArgs({
  options: {
    preset: { type: "string", default: "medium" },
    samples: { type: "string", default: "20" },
    "proxy-mode": { type: "string", default: "iptables" },
    writer: { type: "string", default: "netlink" },
  },
});
if (!isPresetName(o.preset)) throw new Error(`unknown preset ${o.preset}`);
const SAMPLES = Number(o.samples);
const FAMILIES: { family: NftFamily; v: "ipv4" | "ipv6" }[] = [
  { family: "ip", v: "ipv4" },
  { family: "ip6", v: "ipv6" },
];

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function main() {
  const ns = `fxnftpreset-${randomBytes(3).toString("hex")}`;
  execFileSync("ip", ["netns", "add", ns]);
  const prefix = ["ip", "netns", "exec", ns];
  try {
    const cluster = generateCluster(o.preset as Parameters<typeof generateCluster>[0]);
    const graph = new CalcGraph({
      nodeName: LOCAL_NODE,
      proxyMode: o["proxy-mode"] as ProxyMode,
      ruleRenderer: NFT_RULES,
    });
    let state: DesiredState = graph.apply(cluster.updates);
    const texts = FAMILIES.map(({ family, v }) =>
      renderNftTable(family, state.iptables[v], state.ipsets, state.nftObjects),
    );
    const rules = texts.reduce((n, t) => n + (t.match(/comment "cali:/g)?.length ?? 0), 0);
    const elements = ipSetList(state.ipsets).reduce((n, s) => n + s.members.size, 0);
    console.log(
      `${o.preset}: ${rules} rules, ${ipSetCount(state.ipsets)} sets / ${elements} members, ${(texts.join("").length / 1e6).toFixed(1)} MB of nft text`,
    );
    const flush = () => spawnSync("ip", ["netns", "exec", ns, "nft", "flush", "ruleset"]);
    const backends: NftBackend[] = FAMILIES.map(({ family }) => {
      const exec = new ExecNftBackend(family, prefix);
      return o.writer === "netlink" ? new NetlinkNftBackend(exec, new RelayTransport(ns)) : exec;
    });
    const floor: number[] = [];
    const cold: number[] = [];
    const coldNft: number[] = [];
    for (let i = 0; i < 5; i++) {
      flush();
      let t0 = performance.now();
      for (const [j, b] of backends.entries()) await b.transact(texts[j]);
      floor.push(performance.now() - t0);
      flush();
      t0 = performance.now();
      let nftMs = 0;
      for (const [j, b] of backends.entries())
        nftMs += (await new NftTableSyncer(b).apply(state.iptables[FAMILIES[j].v], state.ipsets, state.nftObjects))
          .restoreMs;
      cold.push(performance.now() - t0);
      coldNft.push(nftMs);
    }
    console.log(`floor: bare nft -f, both families      ${ms(pct(floor, 0.5))}`);
    const ratio = (pct(cold, 0.5) / pct(floor, 0.5)).toFixed(2);
    console.log(
      `cold: syncer, both families            ${ms(pct(cold, 0.5))} (nft ${ms(pct(coldNft, 0.5))}) = ${ratio} × floor`,
    );
    const syncers = backends.map((b) => new NftTableSyncer(b));
    let fallbacks = 0;
    const applyAll = async () => {
      let nft = 0;
      let bytes = 0;
      for (const [j, s] of syncers.entries()) {
        const r = await s.apply(state.iptables[FAMILIES[j].v], state.ipsets, state.nftObjects);
        nft += r.restoreMs;
        bytes += r.bytesWritten;
        if (r.fallback) fallbacks++;
      }
      return { nft, bytes };
    };
    await applyAll();
    const refresh: number[] = [];
    for (let i = 0; i < 3; i++) {
      for (const s of syncers) s.invalidate();
      const t0 = performance.now();
      const r = await applyAll();
      refresh.push(performance.now() - t0);
      if (r.bytes) throw new Error("a refresh found something to write");
    }
    const how = o.writer === "netlink" ? "netlink dumps" : "nft -j list";
    console.log(`refresh (${how}), both families   ${ms(pct(refresh, 0.5))}`);
    console.log(
      `${"change".padEnd(24)} ${"p50".padStart(9)} ${"p99".padStart(9)} ${"nft p50".padStart(9)} ${"bytes p50".padStart(10)}`,
    );
    for (const kind of CHANGE_KINDS) {
      const wall: number[] = [];
      const nft: number[] = [];
      const bytes: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const c = cluster.change(kind);
        state = graph.apply(c.forward);
        const t0 = performance.now();
        const r = await applyAll();
        wall.push(performance.now() - t0);
        nft.push(r.nft);
        bytes.push(r.bytes);
        state = graph.apply(c.revert);
        await applyAll();
      }
      console.log(
        `${kind.padEnd(24)} ${ms(pct(wall, 0.5)).padStart(9)} ${ms(pct(wall, 0.99)).padStart(9)} ${ms(pct(nft, 0.5)).padStart(9)} ${String(pct(bytes, 0.5)).padStart(10)}`,
      );
    }
    console.log(`changes written with nft -f instead of netlink: ${fallbacks}`);
    for (const b of backends) (b as { close?: () => void }).close?.();
  } finally {
    spawnSync("ip", ["netns", "del", ns]);
  }
}

await main();
