#!/usr/bin/env node

// The nftables kernel side at scale, on the real nft in a throwaway network
// namespace (root): `node dist/bench/nft-syncer.js [--sets 200 --members 100
// --chains 1000 --rules 10 --runs 5]`. Prints the median of each figure:
// The sets hold pod addresses, and --cidr-sets of them also a CIDR (interval sets).
//   floor         bare `nft -f` of the rendered table into an empty namespace
//                 (the time nft needs to load that ruleset in one transaction);
//   cold          the syncer's cold start (list: no table; render; one transaction);
//   one element   one set element added then removed (warm syncer);
//   one chain     one endpoint chain's rules changed and changed back;
//   refresh       invalidate + apply with nothing to do (read back, parse, full diff);
//   restart       a new syncer against the loaded table (what a second --once does).

import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import type { IpSetState } from "../model/ipset.js";
import { ipSetOf, ipSetsOf, withIpSets } from "../model/ipset-shards.js";
import { type RenderedChain, type RenderedRule, tableState } from "../model/tables.js";
import { ExecNftBackend } from "../nftables/backend.js";
import type { NftDesired } from "../nftables/plan.js";
import { NftTableSyncer } from "../nftables/table-syncer.js";
import { renderNftTable } from "../nftables/table-text.js";

const { values: o } = parseArgs({
  options: {
    sets: { type: "string", default: "200" },
    members: { type: "string", default: "100" },
    chains: { type: "string", default: "1000" },
    rules: { type: "string", default: "10" },
    runs: { type: "string", default: "5" },
    "cidr-sets": { type: "string", default: "20" },
  },
});
const [SETS, MEMBERS, CHAINS, RULES, RUNS, CIDR_SETS] = [
  o.sets,
  o.members,
  o.chains,
  o.rules,
  o.runs,
  o["cidr-sets"],
].map(Number);

const rule = (body: string, hash: string): RenderedRule => ({ text: `${body} comment "cali:${hash}"`, hash });
const iface = (i: number) => `cali${i.toString(16).padStart(11, "0")}`;

function endpointChain(i: number, variant = 0): RenderedChain {
  const rules = [rule("ct state established,related accept", `e${i}a`)];
  for (let k = 0; k < RULES - 2; k++) {
    const s = (i * 7 + k) % SETS;
    rules.push(rule(`ip saddr @cali40s.s${s} tcp dport ${80 + k + variant} accept`, `e${i}r${k}v${variant}`));
  }
  rules.push(rule("drop", `e${i}z`));
  return { name: `cali-tw-${iface(i)}`, rules };
}

function desired(): NftDesired {
  const chains: RenderedChain[] = [];
  for (let i = 0; i < CHAINS; i++) chains.push(endpointChain(i));
  const dispatch = [...Array(CHAINS).keys()].map((i) =>
    rule(`oifname "${iface(i)}" goto filter-cali-tw-${iface(i)}`, `d${i}`),
  );
  chains.push({ name: "cali-to-wl-dispatch", rules: [...dispatch, rule("drop", "dz")] });
  chains.push({ name: "cali-FORWARD", rules: [rule('oifname "cali*" jump filter-cali-to-wl-dispatch', "f1")] });
  const hooks = { FORWARD: { insert: [rule("jump filter-cali-FORWARD", "h1")], append: [] } };
  const sets: IpSetState[] = [];
  for (let s = 0; s < SETS; s++) {
    const members = new Set<string>();
    for (let m = 0; m < MEMBERS; m++) members.add(`10.${(s >> 8) & 255}.${s & 255}.${m}`);
    // The last CIDR_SETS sets also hold a CIDR (network sets, ipBlocks): interval sets.
    if (s >= SETS - CIDR_SETS) members.add(`172.${16 + (s & 15)}.${s & 255}.0/24`);
    sets.push({ name: `cali40s:s${s}`, family: 4, type: "hash:net", members });
  }
  const empty = tableState();
  return { tables: { raw: empty, mangle: empty, nat: empty, filter: tableState(chains, hooks) }, sets: ipSetsOf(sets) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

async function main() {
  const ns = `fxnftbench-${randomBytes(3).toString("hex")}`;
  execFileSync("ip", ["netns", "add", ns]);
  try {
    const backend = new ExecNftBackend("ip", ["ip", "netns", "exec", ns]);
    const d = desired();
    const text = renderNftTable("ip", d.tables, d.sets);
    const rules = CHAINS * RULES + CHAINS + 2;
    console.log(
      `ruleset: ${SETS * MEMBERS + CIDR_SETS} set elements in ${SETS} sets (${CIDR_SETS} with a CIDR: interval sets), ${CHAINS + 2} chains, ${rules} rules, ${(text.length / 1e6).toFixed(1)} MB`,
    );
    const clear = () => spawnSync("ip", ["netns", "exec", ns, "nft", "flush", "ruleset"]);
    const floor: number[] = [];
    const cold: number[] = [];
    const coldNft: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      clear();
      let t0 = performance.now();
      await backend.transact(text);
      floor.push(performance.now() - t0);
      clear();
      t0 = performance.now();
      const r = await new NftTableSyncer(backend).apply(d.tables, d.sets);
      cold.push(performance.now() - t0);
      coldNft.push(r.restoreMs);
    }
    const syncer = new NftTableSyncer(backend);
    await syncer.apply(d.tables, d.sets);
    const figures: [string, number[], number[], number[]][] = [];
    const measure = async (label: string, steps: NftDesired[]) => {
      const wall: number[] = [];
      const nft: number[] = [];
      const bytes: number[] = [];
      for (let i = 0; i < RUNS; i++)
        for (const s of steps) {
          const t0 = performance.now();
          const r = await syncer.apply(s.tables, s.sets);
          wall.push(performance.now() - t0);
          nft.push(r.restoreMs);
          bytes.push(r.bytesWritten);
        }
      figures.push([label, wall, nft, bytes]);
    };
    const s0 = ipSetOf(d.sets, "cali40s:s0")!;
    const plusOne = { ...s0, members: new Set([...s0.members, "10.200.0.1"]) };
    await measure("one element added / removed", [
      { tables: d.tables, sets: withIpSets(d.sets, [[s0.name, plusOne]]) },
      d,
    ]);
    const changed = tableState([...chainsOf(d), endpointChain(0, 1)], d.tables.filter.hooks);
    await measure("one chain changed / back", [{ tables: { ...d.tables, filter: changed }, sets: d.sets }, d]);
    // A new endpoint: its chain and one more dispatch rule. The dispatch chain is one chain of
    // CHAINS rules here (verdict maps are the renderer's answer), so it is flushed and refilled.
    const n = CHAINS;
    const dispatchPlus = {
      name: "cali-to-wl-dispatch",
      rules: [
        ...[...Array(n + 1).keys()].map((i) => rule(`oifname "${iface(i)}" goto filter-cali-tw-${iface(i)}`, `d${i}`)),
        rule("drop", "dz"),
      ],
    };
    const withEndpoint = tableState(
      [
        ...chainsOf(d).filter((c) => c.name !== "cali-to-wl-dispatch"),
        endpointChain(0),
        endpointChain(n),
        dispatchPlus,
      ],
      d.tables.filter.hooks,
    );
    await measure("new endpoint (chain + dispatch rule) / gone", [
      { tables: { ...d.tables, filter: withEndpoint }, sets: d.sets },
      d,
    ]);
    const refresh: number[] = [];
    const restart: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      syncer.invalidate();
      let t0 = performance.now();
      const r = await syncer.apply(d.tables, d.sets);
      refresh.push(performance.now() - t0);
      if (r.linesWritten) throw new Error("refresh wrote something");
      t0 = performance.now();
      await new NftTableSyncer(backend).apply(d.tables, d.sets);
      restart.push(performance.now() - t0);
    }
    console.log(`floor: nft -f of the whole table       ${fmt(median(floor))}`);
    console.log(
      `cold: syncer apply (nft -f inside)     ${fmt(median(cold))} (${fmt(median(coldNft))}) = ${(median(cold) / median(floor)).toFixed(2)} × floor`,
    );
    for (const [label, wall, nft, bytes] of figures)
      console.log(
        `${label.padEnd(38)} ${fmt(median(wall))} (nft ${fmt(median(nft))}), p99 ${fmt(Math.max(...wall))}, ${median(bytes)} bytes`,
      );
    console.log(`refresh with nothing to do            ${fmt(median(refresh))}`);
    console.log(`restart (new syncer, table loaded)    ${fmt(median(restart))}`);
  } finally {
    spawnSync("ip", ["netns", "del", ns]);
  }
}

function chainsOf(d: NftDesired): RenderedChain[] {
  return Object.values(d.tables.filter.shards)
    .flatMap((s) => Object.values(s))
    .filter((c) => c.name !== `cali-tw-${iface(0)}`);
}

await main();
