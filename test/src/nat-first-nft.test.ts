// A cold start in two stages in nftables mode (src/nat-first.ts, NftTableSyncer.loadNatFirst)
// on fake nft kernels, proxy modes iptables and nftables: the first transactions (two a
// family at most) are nat tables alone, written before the held kinds go into the graph and before anything reports
// in sync; the full apply reads none of them back, writes none of them again (nothing
// differs) and writes `calico`; the end state is the one-stage one; a failed stage 1 is
// logged and the full apply still programs everything.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Subject } from "rxjs";
import type { Kind, ResourceUpdate } from "../../model/resource.js";
import { FakeNftBackend } from "../../nftables/fake-backend.js";
import { NFT_NAT_TABLES, NFT_TABLES } from "../../nftables/names.js";
import { NFT_RULES } from "../../nftables/render.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { Daemon } from "../../src/daemon.js";
import { Dataplane } from "../../src/dataplane.js";
import { partialBatch } from "../../src/datastore/batch.js";
import { NAT_KINDS, natFirstFits } from "../../src/nat-first.js";
import { namespace, pod, policy } from "../calc-graph/fixtures.js";
import { node, pool } from "../calc-graph/network/routing-fixtures.js";
import { sliceUpdate, svcUpdate } from "../calc-graph/services/fixtures.js";
import { capturedLog } from "../helpers/json-log.js";
import { until } from "../helpers/until.js";

type ProxyMode = "iptables" | "nftables";

interface Write {
  readonly family: string;
  readonly tables: string[];
  /** Written by the full apply (stage 1 had ended). */
  readonly full: boolean;
  readonly ingested: readonly Kind[];
  readonly batchesReported: number;
}

function rig(proxyMode: ProxyMode, natFirst: boolean) {
  const v4 = new FakeNftBackend("ip");
  const v6 = new FakeNftBackend("ip6");
  const noSleep = { sleep: async () => {} };
  const dataplane = new Dataplane({
    nft: { ipv4: new NftTableSyncer(v4, noSleep), ipv6: new NftTableSyncer(v6, noSleep) },
  });
  const graphCfg = { nodeName: "node1", proxyMode, ruleRenderer: NFT_RULES } as const;
  assert.equal(natFirstFits(graphCfg, dataplane), true);
  const { log, lines } = capturedLog();
  const updates = new Subject<ResourceUpdate[]>();
  const seen = { batches: 0, applied: [] as unknown[] };
  const daemon = new Daemon({
    graph: graphCfg,
    updates,
    dataplane,
    log,
    observer: { batch: () => seen.batches++, applied: (_s, outcome) => seen.applied.push(outcome) },
    refreshIntervalSecs: 0,
    natFirst,
  });
  const applying = { started: !natFirst };
  const natFirstOf = dataplane.natFirst.bind(dataplane);
  dataplane.natFirst = (state) => {
    const early = natFirstOf(state);
    void early?.done.then(() => {
      applying.started = true;
    });
    return early;
  };
  const ingested: Kind[] = [];
  const ingest = daemon.graph.ingest.bind(daemon.graph);
  daemon.graph.ingest = (batch) => {
    for (const u of batch) ingested.push(u.kind);
    ingest(batch);
  };
  const writes: Write[] = [];
  const lists: string[] = [];
  for (const b of [v4, v6]) {
    const transact = b.transact.bind(b);
    b.transact = (script: string) => {
      const named = [...script.matchAll(/^(?:table|(?:add|delete|flush) \w+) ip6? (\S+)/gm)].map((m) => m[1]);
      const w = { family: b.family, tables: [...new Set(named)], full: applying.started };
      writes.push({ ...w, ingested: [...ingested], batchesReported: seen.batches });
      return transact(script);
    };
    const list = b.list.bind(b);
    b.list = (table?: string) => {
      lists.push(`${b.family} ${table}`);
      return list(table);
    };
  }
  const kernel = async () => {
    const out: string[] = [];
    for (const b of [v4, v6])
      for (const t of NFT_TABLES) out.push(`${b.family} ${t}: ${(await b.list(t))?.replace(/"handle":\d+/g, "")}`);
    return out;
  };
  return { daemon, updates, writes, lists, lines, seen, kernel, v4 };
}

const localPod = pod("prod", "web", { ip: "10.244.1.10", labels: { app: "web" }, node: "node1" });
const remotePod = pod("prod", "db", { ip: "10.244.2.10", labels: { app: "db" }, node: "node2" });
const deny = policy("prod", "deny", { podSelector: {}, policyTypes: ["Ingress"] });
/** Services enough to fill several nat tables (shards by a hash of the name). */
const services = Array.from({ length: 12 }, (_, i) => [
  svcUpdate(`web${i}`, { clusterIP: `10.96.0.${10 + i}`, ports: [{ name: "http", port: 80, targetPort: 8080 }] }),
  sliceUpdate(`web${i}-1`, `web${i}`, [
    { ip: "10.244.1.10", node: "node1", ready: true },
    { ip: "10.244.2.10", node: "node2", ready: true },
  ]),
]).flat();

function firstBatch(): ResourceUpdate[][] {
  return [
    partialBatch([namespace("prod"), localPod, ...services.slice(0, 8), node("node1", 1)]),
    partialBatch([deny, ...services.slice(8), node("node2", 2), remotePod]),
    [pool({ natOutgoing: true })],
  ];
}

async function coldStart(proxyMode: ProxyMode, natFirst: boolean, before?: (r: ReturnType<typeof rig>) => void) {
  const r = rig(proxyMode, natFirst);
  before?.(r);
  r.daemon.start();
  for (const b of firstBatch()) r.updates.next(b);
  await until(() => r.seen.applied.length > 0, "the first apply");
  return r;
}

for (const proxyMode of ["iptables", "nftables"] as const) {
  describe(`nftables mode, proxy mode ${proxyMode}: cold start in two stages`, () => {
    test("nat tables first, before the held kinds or anything in sync; the full apply writes calico alone", async () => {
      const r = await coldStart(proxyMode, true);
      const stage1 = r.writes.filter((w) => !w.full);
      const loaded = stage1.flatMap((w) => w.tables.map((t) => `${w.family} ${t}`));
      assert.ok(loaded.length >= 4, `several nat tables: ${JSON.stringify(r.writes.map((w) => w.tables))}`);
      for (const family of ["ip", "ip6"])
        assert.ok(stage1.filter((w) => w.family === family).length <= 2, "at most two transactions a family");
      for (const w of stage1) for (const t of w.tables) assert.ok(NFT_NAT_TABLES.includes(t), t);
      // The first ones start before the held kinds go in (the others wait for a slot).
      const first = r.writes[0];
      assert.equal(first.batchesReported, 0, "written before anything reports in sync");
      assert.ok(
        first.ingested.every((k) => NAT_KINDS.has(k)),
        `stage 1 after ${first.ingested.join(",")}`,
      );
      assert.ok(first.ingested.includes("Service") && first.ingested.includes("EndpointSlice"));
      const full = r.writes.filter((w) => w.full);
      assert.ok(full.length > 0);
      for (const w of full) {
        assert.deepEqual(w.tables, ["calico"], "the nat tables are as stage 1 left them");
        assert.ok(w.ingested.includes("Pod"));
      }
      // Each loaded nat table listed once, by stage 1 (absent then); never read back.
      for (const t of loaded) assert.equal(r.lists.filter((l) => l === t).length, 1, t);
      const msgs = r.lines.map((l) => l.msg);
      const natAt = msgs.indexOf("nat table programmed ahead of the first apply");
      assert.ok(natAt >= 0, msgs.join("\n"));
      assert.ok(natAt < msgs.indexOf("dataplane programmed"));
      assert.ok(!(r.seen.applied[0] instanceof Error), String(r.seen.applied[0]));
      await r.daemon.stop();
    });

    test("ends with the kernel state of a one-stage start", async () => {
      const two = await coldStart(proxyMode, true);
      const one = await coldStart(proxyMode, false);
      assert.ok(one.writes[0].tables.includes("calico"), "one stage: the first write has every table");
      assert.deepEqual(await two.kernel(), await one.kernel());
      await two.daemon.stop();
      await one.daemon.stop();
    });

    test("a failed stage 1 is logged, and the first apply programs everything and is in sync", async () => {
      const one = await coldStart(proxyMode, false);
      const r = await coldStart(proxyMode, true, (r) => {
        r.v4.failNext = 1; // one of stage 1's IPv4 loads
      });
      const msgs = r.lines.map((l) => l.msg);
      assert.ok(msgs.includes("nat table ahead of the first apply failed: the first apply writes it"), msgs.join("\n"));
      assert.ok(!(r.seen.applied[0] instanceof Error), String(r.seen.applied[0]));
      assert.ok(msgs.includes("datastore in sync"));
      assert.deepEqual(await r.kernel(), await one.kernel());
      await r.daemon.stop();
      await one.daemon.stop();
    });
  });
}
