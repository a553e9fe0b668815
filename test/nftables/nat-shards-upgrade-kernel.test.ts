// Upgrade on the real nft from the two-table layout (every nat chain in
// `calico-nat`, what the agent wrote before the services were spread over nat
// shards) to the sharded one, in both proxy layouts: one transaction moves
// the services of shards 1-7 into their tables (packets see the old layout or
// the new one, never half of it), the kernel then reads back as desired, and a
// second apply writes nothing. Removal takes every shard table.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import type { ProxyMode } from "../../calc-graph/services/model.js";
import { NAT_SHARDS } from "../../model/nat-shards.js";
import { chainNames } from "../../model/tables.js";
import { NFT_NAT_TABLE, NFT_NAT_TABLES } from "../../nftables/names.js";
import { removeNftTables } from "../../nftables/remove.js";
import { NFT_RULES } from "../../nftables/render.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { renderNftTable } from "../../nftables/table-text.js";
import { node } from "../calc-graph/fixtures.js";
import { sliceUpdate, svcUpdate } from "../calc-graph/services/fixtures.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";
import { Recording } from "./fixtures.js";
import { desiredTables, readOurTables } from "./golden-state.js";

const missing = spawnSync("sh", ["-c", "command -v nft"]).status !== 0 ? "needs nft" : undefined;
const skip = netnsSkipReason() ?? missing;

const SERVICES = 40;

/** 40 services (node ports on every 4th) with two endpoints each, rendered with `natShards` nat tables. */
function state(proxyMode: ProxyMode, natShards: number): DesiredState {
  const g = new CalcGraph({ nodeName: "node1", proxyMode, ruleRenderer: { ...NFT_RULES, natShards } });
  const updates = [node("node1", "10.65.1.0/24", "172.18.0.1"), node("node2", "10.65.2.0/24", "172.18.0.2")];
  for (let i = 0; i < SERVICES; i++) {
    const nodePort = i % 4 === 0 ? { nodePort: 30000 + i } : {};
    updates.push(
      svcUpdate(`svc-${i}`, {
        type: i % 4 === 0 ? "NodePort" : "ClusterIP",
        clusterIP: `10.96.1.${i + 1}`,
        ports: [{ name: "http", port: 80, ...nodePort }],
      }),
      sliceUpdate(`svc-${i}-1`, `svc-${i}`, [
        { ip: `10.65.1.${i + 10}`, node: "node1" },
        { ip: `10.65.2.${i + 10}`, node: "node2" },
      ]),
    );
  }
  return g.apply(updates);
}

const want = (s: DesiredState) => ({
  tables: s.iptables.ipv4,
  sets: s.ipsets,
  ...(s.nftObjects ? { objects: s.nftObjects } : {}),
});

describe("nat shards: upgrade from the two-table layout on the real nft", { ...skipIf(skip), timeout: 120_000 }, () => {
  let ns = "";
  before(() => {
    ns = createNetns("fxshu");
  });
  after(() => deleteNetns(ns));

  for (const proxyMode of ["iptables", "nftables"] as const) {
    test(`FELIX_PROXYMODE=${proxyMode}: one transaction moves the services of shards 1-7 out of calico-nat`, async () => {
      const b = new Recording("ip", ns);
      await removeNftTables([b]);
      const old = state(proxyMode, 1);
      const now = state(proxyMode, NAT_SHARDS);
      // What the agent loaded before: `calico` and one `calico-nat`.
      await b.transact(renderNftTable("ip", old.iptables.ipv4, old.ipsets, old.nftObjects));
      const listed = await b.list(NFT_NAT_TABLE);
      assert.ok(listed !== undefined);
      for (const t of NFT_NAT_TABLES.slice(1)) assert.equal(await b.list(t), undefined, t);
      const oldNat = chainNames(old.iptables.ipv4.nat).length;
      b.scripts.length = 0;

      const res = await new NftTableSyncer(b).apply(now.iptables.ipv4, now.ipsets, now.nftObjects);
      assert.equal(b.scripts.length, 1, "one transaction: packets see the old layout or the new one");
      const script = b.scripts[0];
      const moved = NFT_NAT_TABLES.slice(1).filter((t) => script.includes(`table ip ${t} {`));
      assert.ok(moved.length >= 5, `40 services fill most shards: ${moved.join(", ")}`);
      // Most of the service chains left calico-nat (about 7/8 of them; a hash, not an exact share).
      assert.ok(res.chainsDeleted > oldNat / 2, `${res.chainsDeleted} of ${oldNat} chains left calico-nat`);
      assert.deepEqual(await readOurTables(b), desiredTables("ip", want(now)));
      assert.equal((await new NftTableSyncer(b).apply(now.iptables.ipv4, now.ipsets, now.nftObjects)).linesWritten, 0);

      // And back (an older agent's layout is just another desired state): the shard tables go, one transaction.
      b.scripts.length = 0;
      await new NftTableSyncer(b).apply(old.iptables.ipv4, old.ipsets, old.nftObjects);
      assert.equal(b.scripts.length, 1);
      for (const t of NFT_NAT_TABLES.slice(1)) assert.equal(await b.list(t), undefined, t);
      assert.deepEqual(await readOurTables(b), desiredTables("ip", want(old)));

      await new NftTableSyncer(b).apply(now.iptables.ipv4, now.ipsets, now.nftObjects);
      assert.deepEqual(await removeNftTables([b]), ["ip"]);
      for (const t of NFT_NAT_TABLES) assert.equal(await b.list(t), undefined, `${t} removed`);
    });
  }
});
