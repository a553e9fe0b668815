// kube-proxy's nftables layout (FELIX_PROXYMODE=nftables) written over
// netlink, in throwaway namespaces: random sequences of service and endpoint
// changes from the real graph (endpoints added and removed, a service that
// comes and goes, the affinity timeout changed, refreshes) go through a
// netlink syncer into one namespace and an `nft -f` syncer into another.
// After the cold start no change may fall back to nft -f; both kernels list
// the same table, as desired, and the netlink read-back (maps with their
// verdicts, timeout sets) equals what nft -j lists. The kernel's own affinity
// elements are never drift and are not read.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import fc from "fast-check";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { natShardName, natShardOf } from "../../model/nat-shards.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { ExecNftBackend } from "../../nftables/backend.js";
import { natTableName } from "../../nftables/names.js";
import { NetlinkNftBackend } from "../../nftables/netlink/backend.js";
import { RelayTransport } from "../../nftables/netlink/relay.js";
import { NFT_RULES } from "../../nftables/render.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { deleted, node } from "../calc-graph/fixtures.js";
import { sliceUpdate, svcUpdate } from "../calc-graph/services/fixtures.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, inNetns, netnsSkipReason } from "../routes/netns.js";
import { desiredTables, readOurTables } from "./golden-state.js";
import { jsonTables, ListedNftBackend, ourTables } from "./ruleset-listing.js";

const skip = netnsSkipReason() ?? (spawnSync("sh", ["-c", "command -v nft"]).status !== 0 && "needs nft");

const nodes = [node("node1", "10.65.1.0/24", "172.18.0.1"), node("node2", "10.65.2.0/24", "172.18.0.2")];
const EPS = [
  { ip: "10.65.1.5", node: "node1" },
  { ip: "10.65.2.5", node: "node2" },
  { ip: "10.65.1.6", node: "node1" },
];

const web = (timeoutSeconds: number) =>
  svcUpdate("web", {
    type: "NodePort",
    clusterIP: "10.96.0.10",
    sessionAffinity: "ClientIP",
    sessionAffinityConfig: { clientIP: { timeoutSeconds } },
    ports: [{ name: "http", port: 80, nodePort: 30080 }],
  });
// In web's nat shard: its comings and goings are element and chain changes of that table (a service
// alone in a shard brings the shard's table whole, through nft -f: maps.test.ts, nat-shards-upgrade-kernel).
const other = svcUpdate("blog", { clusterIP: "10.96.0.20", ports: [{ name: "http", port: 80 }] });
const WEB = natTableName(natShardOf("demo/web"));
// Keeps web's shard's table there whatever web and blog do (a service with no endpoint has no nat chain).
const anchor = [
  svcUpdate("search", { clusterIP: "10.96.0.30", ports: [{ name: "http", port: 80 }] }),
  sliceUpdate("search-1", "search", [EPS[0]]),
];

const stepArb = fc.record({
  webEps: fc.option(fc.subarray(EPS), { nil: undefined }),
  webTimeout: fc.constantFrom(60, 10800),
  other: fc.option(fc.subarray(EPS, { minLength: 1 }), { nil: undefined }),
  refresh: fc.boolean(),
});
type Step = typeof stepArb extends fc.Arbitrary<infer T> ? T : never;

function updates(s: Step): ResourceUpdate[] {
  return [
    web(s.webTimeout),
    sliceUpdate("web-1", "web", s.webEps ?? null),
    ...(s.other
      ? [other, sliceUpdate("blog-1", "blog", s.other)]
      : [deleted(other), sliceUpdate("blog-1", "blog", null)]),
  ];
}

function nft(ns: string, args: string[], input?: string) {
  const r = spawnSync("ip", ["netns", "exec", ns, "nft", ...args], { encoding: "utf8", input, maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, `nft ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const want = (s: DesiredState) =>
  desiredTables("ip", { tables: s.iptables.ipv4, sets: s.ipsets, objects: s.nftObjects });

test("kube-proxy's maps over netlink: random service and endpoint changes, no fallback, both kernels as desired", {
  ...skipIf(skip),
  timeout: 300_000,
}, async () => {
  const nsNft = createNetns("nlmapnft");
  const nsNl = createNetns("nlmapnl");
  const netlink = new NetlinkNftBackend(
    new ExecNftBackend("ip", ["ip", "netns", "exec", nsNl]),
    new RelayTransport(nsNl),
  );
  try {
    let overNetlink = 0;
    let mapChanges = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 2, maxLength: 6 }), async (steps) => {
        for (const n of [nsNft, nsNl]) nft(n, ["flush", "ruleset"]);
        const g = new CalcGraph({ nodeName: "node1", proxyMode: "nftables", ruleRenderer: NFT_RULES });
        // nft -f for the transactions; its reads (and ours) list the ruleset once, not table by table.
        const nftBackend = new ListedNftBackend("ip", inNetns(nsNft));
        const viaNft = new NftTableSyncer(nftBackend, { retries: 0 });
        const viaNl = new NftTableSyncer(netlink, { retries: 0 });
        g.apply([...nodes, ...anchor]);
        for (const [i, s] of steps.entries()) {
          const state = g.apply(updates(s));
          if (s.refresh) viaNl.invalidate();
          await viaNft.apply(state.iptables.ipv4, state.ipsets, state.nftObjects);
          const r = await viaNl.apply(state.iptables.ipv4, state.ipsets, state.nftObjects);
          // The cold start is a whole table (nft -f); every change after it goes over netlink.
          assert.equal(r.fallback, undefined, `step ${i}: fell back: ${r.fallback}`);
          if (i > 0) assert.notEqual(r.via, "nft", `step ${i} went through nft -f`);
          if (r.via === "netlink") overNetlink++;
          if (r.via === "netlink" && (r.elementsAdded || r.elementsRemoved)) mapChanges++;
          const desired = want(state);
          assert.deepEqual(ourTables(nftBackend.refresh(), "ip"), desired, `step ${i}: nft -f kernel`);
          assert.deepEqual(await readOurTables(netlink, "readView"), desired, `step ${i}: netlink read-back`);
          const listed = jsonTables(nft(nsNl, ["-j", "list", "ruleset", "ip"]));
          assert.deepEqual(ourTables(listed, "ip"), desired, `step ${i}: nft -j`);
        }
        assert.equal(viaNl.fallbacks, 0);
      }),
      { numRuns: 15, seed: 1818 },
    );
    assert.ok(overNetlink > 30, `only ${overNetlink} transactions over netlink`);
    assert.ok(mapChanges > 10, `only ${mapChanges} element changes over netlink`);
  } finally {
    netlink.close();
    deleteNetns(nsNl);
    deleteNetns(nsNft);
  }
});

test(
  "the kernel's affinity elements over netlink: not read, not drift; a map element removed behind our back is put back over netlink",
  skipIf(skip),
  async () => {
    const ns = createNetns("nlmapaff");
    const netlink = new NetlinkNftBackend(
      new ExecNftBackend("ip", ["ip", "netns", "exec", ns]),
      new RelayTransport(ns),
    );
    try {
      const g = new CalcGraph({ nodeName: "node1", proxyMode: "nftables", ruleRenderer: NFT_RULES });
      const syncer = new NftTableSyncer(netlink, { retries: 0 });
      const state = g.apply([...nodes, web(10800), sliceUpdate("web-1", "web", [EPS[0]])]);
      await syncer.apply(state.iptables.ipv4, state.ipsets, state.nftObjects);
      const aff = [...((await netlink.readView(WEB))?.sets.keys() ?? [])].find((n) => n.startsWith("affinity-"));
      assert.ok(aff);
      // What an `update @set` would have added, and a map element deleted behind our back.
      nft(ns, ["add", "element", "ip", WEB, aff, "{ 192.0.2.7 }"]);
      const nodePorts = natShardName("service-nodeports", natShardOf("demo/web"));
      nft(ns, ["delete", "element", "ip", WEB, nodePorts, "{ tcp . 30080 }"]);
      const v = await netlink.readView(WEB);
      assert.deepEqual([...(v?.sets.get(aff)?.elements ?? ["?"])], []);
      assert.equal(v?.sets.get(aff)?.timeout, 10800);
      syncer.invalidate();
      const r = await syncer.apply(state.iptables.ipv4, state.ipsets, state.nftObjects);
      assert.equal(r.via, "netlink");
      assert.equal(r.linesWritten, 1);
      assert.equal(r.elementsAdded, 1);
      assert.match(nft(ns, ["list", "set", "ip", WEB, aff]), /192\.0\.2\.7/);
      assert.deepEqual(await readOurTables(netlink, "readView"), want(state));
      syncer.invalidate();
      assert.equal((await syncer.apply(state.iptables.ipv4, state.ipsets, state.nftObjects)).linesWritten, 0);
    } finally {
      netlink.close();
      deleteNetns(ns);
    }
  },
);
