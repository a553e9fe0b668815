// A cold start in two stages (src/nat-first.ts) on fake kernels: the first
// kernel write is the nat table alone, made before the held kinds go into the
// graph and before anything reports in sync; the end state is the one-stage
// one; a failed stage 1 still ends programmed; batches that come meanwhile wait
// their turn; other modes keep one stage.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Subject } from "rxjs";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { IpsetSyncer } from "../../iptables/ipset-syncer.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import type { Kind, ResourceUpdate } from "../../model/resource.js";
import { FakeNftBackend } from "../../nftables/fake-backend.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { Daemon } from "../../src/daemon.js";
import { Dataplane } from "../../src/dataplane.js";
import { aheadDonePart, partialBatch } from "../../src/datastore/batch.js";
import { NAT_KINDS, natFirstFits } from "../../src/nat-first.js";
import { namespace, pod, policy } from "../calc-graph/fixtures.js";
import { node, pool } from "../calc-graph/network/routing-fixtures.js";
import { sliceUpdate, svcUpdate } from "../calc-graph/services/fixtures.js";
import { capturedLog } from "../helpers/json-log.js";
import { until } from "../helpers/until.js";

/** One kernel write: its tables, and what the graph and the status had seen by then. */
interface Write {
  readonly family: 4 | 6;
  readonly tables: string[];
  readonly ingested: readonly Kind[];
  readonly batchesReported: number;
}

function rig(natFirst: boolean) {
  const sets = new FakeIpsetBackend();
  const v4 = new FakeIptablesBackend(4, "legacy", sets);
  const v6 = new FakeIptablesBackend(6, "legacy", sets);
  const dataplane = new Dataplane({
    ipsets: new IpsetSyncer(sets),
    ipv4: new TableSyncer(v4),
    ipv6: new TableSyncer(v6),
  });
  const { log, lines } = capturedLog();
  const updates = new Subject<ResourceUpdate[]>();
  const seen = { batches: 0, applied: [] as unknown[], states: [] as unknown[] };
  const daemon = new Daemon({
    graph: { nodeName: "node1", proxyMode: "iptables" },
    updates,
    dataplane,
    log,
    observer: {
      batch: () => seen.batches++,
      applied: (s, outcome) => {
        seen.applied.push(outcome);
        seen.states.push(s);
      },
    },
    refreshIntervalSecs: 0,
    natFirst,
  });
  const ingested: Kind[] = [];
  const graph = daemon.graph;
  const ingest = graph.ingest.bind(graph);
  graph.ingest = (batch) => {
    for (const u of batch) ingested.push(u.kind);
    ingest(batch);
  };
  const writes: Write[] = [];
  /** While set, restores wait for it (the kernel is slow). */
  const slow: { gate?: Promise<void> } = {};
  for (const b of [v4, v6]) {
    const restore = b.restore.bind(b);
    b.restore = async (input: string) => {
      writes.push({
        family: b.family,
        tables: [...input.matchAll(/^\*(\w+)$/gm)].map((m) => m[1]),
        ingested: [...ingested],
        batchesReported: seen.batches,
      });
      await slow.gate;
      return restore(input);
    };
  }
  const kernel = () =>
    JSON.stringify({
      v4: [...v4.tables].map(([t, c]) => [t, [...c].sort()]),
      v6: [...v6.tables].map(([t, c]) => [t, [...c].sort()]),
      sets: [...sets.sets].map(([n, s]) => [n, s.header, [...s.members].sort()]).sort(),
    });
  return { daemon, updates, writes, lines, seen, kernel, v4, slow };
}

const localPod = pod("prod", "web", { ip: "10.244.1.10", labels: { app: "web" }, node: "node1" });
const remotePod = pod("prod", "db", { ip: "10.244.2.10", labels: { app: "db" }, node: "node2" });
const web = svcUpdate("web", { clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80, targetPort: 8080 }] });
const webSlice = sliceUpdate("web-1", "web", [
  { ip: "10.244.1.10", node: "node1", ready: true },
  { ip: "10.244.2.10", node: "node2", ready: true },
]);
const deny = policy("prod", "deny", { podSelector: {}, policyTypes: ["Ingress"] });

/** The first batch in three parts, nat kinds and others mixed in each. */
function firstBatch(): ResourceUpdate[][] {
  return [
    partialBatch([namespace("prod"), localPod, web, node("node1", 1)]),
    partialBatch([deny, webSlice, node("node2", 2), remotePod]),
    [pool({ natOutgoing: true })],
  ];
}

async function coldStart(natFirst: boolean, before?: (r: ReturnType<typeof rig>) => void) {
  const r = rig(natFirst);
  before?.(r);
  r.daemon.start();
  for (const b of firstBatch()) r.updates.next(b);
  await until(() => r.seen.applied.length > 0, "the first apply");
  return r;
}

describe("cold start in two stages (nat table first)", () => {
  test("the first kernel writes are the nat tables, before the held kinds are ingested or anything is in sync", async () => {
    const r = await coldStart(true);
    const first = r.writes.filter((w) => w.tables.every((t) => t === "nat"));
    assert.ok(first.length >= 1, "a nat-only write");
    assert.deepEqual(r.writes[0].tables, ["nat"], `first write: ${JSON.stringify(r.writes[0])}`);
    assert.equal(r.writes[0].batchesReported, 0, "written before anything reports in sync");
    for (const w of first.filter((w) => w.batchesReported === 0)) {
      assert.ok(
        w.ingested.every((k) => NAT_KINDS.has(k)),
        `stage 1 wrote after ingesting ${w.ingested.filter((k) => !NAT_KINDS.has(k)).join(",")}`,
      );
      assert.ok(w.ingested.includes("Service") && w.ingested.includes("EndpointSlice"));
    }
    assert.ok(
      r.writes.some((w) => w.tables.includes("filter") && w.ingested.includes("Pod")),
      "then the full apply",
    );
    const msgs = r.lines.map((l) => l.msg);
    const natAt = msgs.indexOf("nat table programmed ahead of the first apply");
    assert.ok(natAt >= 0, msgs.join("\n"));
    assert.ok(natAt < msgs.indexOf("dataplane programmed"));
    assert.ok(!(r.seen.applied[0] instanceof Error));
    await r.daemon.stop();
  });

  test("ends with the kernel state of a one-stage start", async () => {
    const two = await coldStart(true);
    const one = await coldStart(false);
    assert.ok(one.writes[0].tables.includes("filter"), "one stage: the first write has every table");
    assert.ok(two.kernel().includes("cali-SVC-"), "services programmed");
    assert.ok(two.kernel().includes("cali-pi-"), "the policy programmed");
    assert.equal(two.kernel(), one.kernel());
    await two.daemon.stop();
    await one.daemon.stop();
  });

  test("a failed stage 1 is logged, and the first apply programs everything and is in sync", async () => {
    const one = await coldStart(false);
    const r = await coldStart(true, (r) => {
      r.v4.failNext = 1; // stage 1's IPv4 restore
    });
    const msgs = r.lines.map((l) => l.msg);
    assert.ok(msgs.includes("nat table ahead of the first apply failed: the first apply writes it"), msgs.join("\n"));
    assert.ok(!(r.seen.applied[0] instanceof Error), String(r.seen.applied[0]));
    assert.ok(msgs.includes("datastore in sync"));
    assert.equal(r.kernel(), one.kernel());
    await r.daemon.stop();
    await one.daemon.stop();
  });

  test("batches that come while stage 1 starts are taken after the first batch, in order", async () => {
    const one = rig(false);
    one.daemon.start();
    for (const b of firstBatch()) one.updates.next(b);
    one.updates.next([deny, { ...deny, value: null }]);
    one.updates.next([policy("prod", "late", { podSelector: {}, policyTypes: ["Egress"] })]);
    await until(() => one.seen.states.at(-1) === one.daemon.graph.current, "one stage applied");

    const r = rig(true);
    let open = () => {};
    r.slow.gate = new Promise<void>((res) => (open = res));
    r.daemon.start();
    for (const b of firstBatch()) r.updates.next(b);
    await until(() => r.writes.length > 0, "stage 1's write");
    r.updates.next([deny, { ...deny, value: null }]);
    r.updates.next([policy("prod", "late", { podSelector: {}, policyTypes: ["Egress"] })]);
    assert.equal(r.seen.batches, 0, "nothing in sync while stage 1 starts");
    r.slow.gate = undefined;
    open();
    await until(() => r.seen.batches === 3, "the three batches");
    await until(() => r.seen.states.at(-1) === r.daemon.graph.current, "the latest state applied");
    assert.equal(r.kernel(), one.kernel());
    await r.daemon.stop();
    await one.daemon.stop();
  });

  test("with the files of nat kinds read ahead, stage 1 starts at their end, before the batch is complete", async () => {
    const one = await coldStart(false);
    const r = rig(true);
    r.daemon.start();
    r.updates.next(partialBatch([web, node("node1", 1), node("node2", 2)]));
    r.updates.next(aheadDonePart([]));
    await until(() => r.writes.length > 0, "stage 1's write");
    assert.deepEqual(r.writes[0].tables, ["nat"]);
    assert.deepEqual(r.writes[0].ingested, ["Service", "Node", "Node"], "the parts before the mark alone");
    assert.equal(r.seen.batches, 0, "nothing in sync");
    // The rest of the batch, a nat kind among the others (the file datastore sends none after the mark): in the full apply.
    r.updates.next(partialBatch([namespace("prod"), localPod, deny, webSlice, remotePod]));
    r.updates.next([pool({ natOutgoing: true })]);
    await until(() => r.seen.applied.length > 0, "the first apply");
    assert.ok(!(r.seen.applied[0] instanceof Error), String(r.seen.applied[0]));
    assert.equal(r.kernel(), one.kernel());
    const msgs = r.lines.map((l) => l.msg);
    assert.ok(msgs.indexOf("nat table restore started") >= 0, msgs.join("\n"));
    assert.ok(msgs.indexOf("nat table restore started") < msgs.indexOf("dataplane programmed"));
    await r.daemon.stop();
    await one.daemon.stop();
  });

  test("proxy mode iptables goes in two stages, and proxy mode nftables in its dataplane", () => {
    assert.equal(natFirstFits({ proxyMode: "iptables" }, { nftables: false }), true);
    assert.equal(natFirstFits({ proxyMode: "iptables" }, { nftables: true }), true);
    assert.equal(natFirstFits({ proxyMode: "nftables" }, { nftables: true }), true);
    for (const proxyMode of ["ipvs", "off", "nftables", undefined] as const)
      assert.equal(natFirstFits({ proxyMode }, { nftables: false }), false, String(proxyMode));
    for (const proxyMode of ["ipvs", "off", undefined] as const)
      assert.equal(natFirstFits({ proxyMode }, { nftables: true }), false, String(proxyMode));
    const nft = new Dataplane({ nft: { ipv4: new NftTableSyncer(new FakeNftBackend("ip")) } });
    assert.ok(nft.natFirst(new CalcGraph({ nodeName: "node1", proxyMode: "iptables" }).current));
  });
});
