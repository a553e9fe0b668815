// Random sequences of desired states (chains that come and go and jump to
// each other, sets that gain and lose elements, change type, appear and
// disappear, hook rules) applied by the syncer to the real nft in a throwaway
// namespace and to the fake: nft must accept every transaction (so the order
// inside each keeps references valid), and after each step both kernels must
// read back exactly as the desired state. Some steps refresh first (the full
// diff against a read-back instead of the O(change) one). A third syncer
// writes the same steps over netlink (nftables/netlink/) into its own
// namespace and must read back alike: the netlink writer agrees with nft -f.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import type { IpSetState } from "../../model/ipset.js";
import { ipSetsOf } from "../../model/ipset-shards.js";
import type { HookRules, RenderedChain, RenderedRule } from "../../model/tables.js";
import { ExecNftBackend } from "../../nftables/backend.js";
import { FakeNftBackend } from "../../nftables/fake-backend.js";
import { NetlinkNftBackend } from "../../nftables/netlink/backend.js";
import { RelayTransport } from "../../nftables/netlink/relay.js";
import type { NftDesired } from "../../nftables/plan.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, inNetns, netnsSkipReason } from "../routes/netns.js";
import { tables } from "./fixtures.js";
import { desiredTables, readOurTables } from "./golden-state.js";
import { jsonTables, ListedNftBackend, nftOut, ourTables } from "./ruleset-listing.js";

const skip = netnsSkipReason() ?? (spawnSync("sh", ["-c", "command -v nft"]).status !== 0 && "needs nft");

const ADDRS = ["10.0.0.1", "10.0.0.2", "10.0.1.0/24", "10.0.0.0/16", "10.1.0.0/16", "10.0.1.7"];
const PORTS = ["10.0.0.1,tcp:80", "10.0.0.2,udp:53", "10.0.0.3,tcp:443"];

const stepArb = fc.record({
  chains: fc.array(fc.option(fc.array(fc.nat(5), { maxLength: 4 }), { nil: undefined }), {
    minLength: 4,
    maxLength: 4,
  }),
  a: fc.option(fc.subarray(ADDRS), { nil: undefined }),
  aPorts: fc.boolean(),
  p: fc.option(fc.subarray(PORTS), { nil: undefined }),
  hook: fc.boolean(),
  refresh: fc.boolean(),
});
type Step = typeof stepArb extends fc.Arbitrary<infer T> ? T : never;

function rule(chain: string, i: number, body: string): RenderedRule {
  const hash = createHash("sha1").update(`${chain}/${i}/${body}`).digest("base64url").slice(0, 16);
  return { text: `${body} comment "cali:${hash}"`, hash };
}

/** The desired state of one step: rule bodies picked from what exists (jumps only forward: nft refuses loops). */
function desired(s: Step): NftDesired {
  const sets: Record<string, IpSetState> = {};
  const aType = s.aPorts ? "hash:ip,port" : "hash:net";
  if (s.a)
    sets["cali40s:a"] = {
      name: "cali40s:a",
      family: 4,
      type: aType,
      members: new Set(s.aPorts ? PORTS.slice(0, s.a.length % 3) : s.a),
    };
  if (s.p) sets["cali40n:p"] = { name: "cali40n:p", family: 4, type: "hash:ip,port", members: new Set(s.p) };
  const present = s.chains.map((c) => c !== undefined);
  const chains: RenderedChain[] = [];
  for (const [i, picks] of s.chains.entries()) {
    if (!picks) continue;
    const name = `cali-c${i}`;
    const bodies = picks.flatMap((k) => {
      const target = present.findIndex((p, j) => p && j > i);
      if (k === 0) return ["accept"];
      if (k === 1) return ["drop"];
      if (k === 2) return target >= 0 ? [`jump filter-cali-c${target}`] : [];
      if (k === 3) return s.a && !s.aPorts ? ["ip saddr @cali40s.a accept"] : [];
      if (k === 4) return s.p ? ["ip daddr . meta l4proto . th dport @cali40n.p accept"] : [];
      return ["meta mark & 0x00010000 == 0x00010000 return"];
    });
    chains.push({ name, rules: bodies.map((b, j) => rule(name, j, b)) });
  }
  const first = present.indexOf(true);
  const hooks: Record<string, HookRules> = {};
  if (s.hook && first >= 0) hooks.FORWARD = { insert: [rule("FORWARD", 0, `jump filter-cali-c${first}`)], append: [] };
  return { tables: tables({ filter: { chains, hooks } }), sets: ipSetsOf(Object.values(sets)) };
}

test("random transitions: nft accepts every transaction and both kernels read back as desired", {
  ...skipIf(skip),
  timeout: 300_000,
}, async () => {
  const ns = createNetns("fxnftx");
  const nlns = createNetns("fxnftnl");
  const netlink = new NetlinkNftBackend(new ExecNftBackend("ip", inNetns(nlns)), new RelayTransport(nlns));
  try {
    let transactions = 0;
    let overNetlink = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 6 }), async (steps) => {
        for (const n of [ns, nlns]) nftOut(inNetns(n), ["flush", "ruleset"]);
        // nft -f for the transactions; its reads (and ours) list the ruleset once, not table by table.
        const real = new ListedNftBackend("ip", inNetns(ns));
        const fake = new FakeNftBackend("ip");
        const syncers = [real, fake, netlink].map((b) => new NftTableSyncer(b, { retries: 0 }));
        for (const s of steps) {
          const d = desired(s);
          for (const syncer of syncers) {
            if (s.refresh) syncer.invalidate();
            const res = await syncer.apply(d.tables, d.sets);
            if (res.linesWritten && syncer.backend === real) transactions++;
            if (res.via === "netlink") overNetlink++;
            // Only a new base chain (start-up) is left to nft -f.
            if (res.fallback) assert.match(res.fallback, /base chain filter-FORWARD/);
          }
          const want = desiredTables("ip", d);
          assert.deepEqual(ourTables(real.refresh(), "ip"), want);
          assert.deepEqual(await readOurTables(fake), want);
          const viaNetlink = jsonTables(nftOut(inNetns(nlns), ["-j", "list", "ruleset", "ip"]));
          assert.deepEqual(ourTables(viaNetlink, "ip"), want, "written over netlink");
        }
      }),
      { numRuns: 25, seed: 18 },
    );
    assert.ok(transactions > 50, `only ${transactions} transactions`);
    assert.ok(overNetlink > 30, `only ${overNetlink} transactions over netlink`);
  } finally {
    netlink.close();
    deleteNetns(nlns);
    deleteNetns(ns);
  }
});
