// The dataplane driver in nftables mode with a fake nft: the graph's nft
// rendering goes into our tables (sets and chains in one transaction per
// family, both families at once), an unchanged snapshot costs nothing, and the other mode's
// leftovers go only after this mode's policy is in the kernel (never when
// it failed), in either direction.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { IpsetSyncer } from "../../iptables/ipset-syncer.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { FakeNftBackend } from "../../nftables/fake-backend.js";
import { NFT_RULES } from "../../nftables/render.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { Dataplane } from "../../src/dataplane.js";
import { type Leftovers, NftLeftovers } from "../../src/mode-leftovers.js";
import { namespace, pod, policy } from "../calc-graph/fixtures.js";

const updates = [
  namespace("prod"),
  pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } }),
  pod("prod", "db", { node: "node2", ip: "10.65.2.11", labels: { app: "db" } }),
  policy("prod", "web", {
    podSelector: { matchLabels: { app: "web" } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: "db" } } }] }],
  }),
];

/** Records when it ran, next to the kernel's writes. */
class RecordingLeftovers implements Leftovers {
  readonly what = "recorded leftovers";
  calls = 0;
  constructor(private readonly log: string[]) {}
  async remove(): Promise<number> {
    this.calls++;
    this.log.push("leftovers");
    return 1;
  }
}

function nftRig() {
  const log: string[] = [];
  const v4 = new FakeNftBackend("ip");
  const v6 = new FakeNftBackend("ip6", v4);
  for (const b of [v4, v6]) {
    const transact = b.transact.bind(b);
    b.transact = async (s: string) => {
      await transact(s);
      log.push(`nft ${b.family}`);
    };
  }
  const leftovers = new RecordingLeftovers(log);
  const dp = new Dataplane({
    nft: { ipv4: new NftTableSyncer(v4, { retries: 0 }), ipv6: new NftTableSyncer(v6, { retries: 0 }) },
    leftovers,
  });
  const g = new CalcGraph({ nodeName: "node1", ruleRenderer: NFT_RULES });
  return { dp, v4, v6, log, leftovers, state: g.apply(updates) };
}

describe("Dataplane in nftables mode", () => {
  test("programs both families' tables, then the leftovers go; an unchanged snapshot writes nothing", async () => {
    const { dp, v4, log, leftovers, state } = nftRig();
    const r = await dp.apply(state);
    assert.deepEqual(log, ["nft ip", "nft ip6", "leftovers"]);
    assert.ok(r.changes > 0);
    assert.ok((r.nftBytes ?? 0) > 0);
    assert.equal(r.iptablesBytes + r.ipsetBytes, 0, "nothing goes to iptables or ipset");
    const script = v4.transactions.join("\n");
    assert.match(script, /chain filter-cali-tw-/);
    assert.match(
      script,
      /set cali40s\.\S+ \{\s+type ipv4_addr\s+elements = \{ 10\.65\.2\.11 \}/,
      "the selector's IP set is an nft set",
    );
    const again = await dp.apply(state);
    assert.equal(again.changes, 0);
    assert.equal(leftovers.calls, 1, "leftovers are removed once");
    dp.resync();
    const refreshed = await dp.apply(state);
    assert.equal(refreshed.changes, 0, "a refresh reads the table back and finds it in sync");
  });

  test("a refused transaction leaves the leftovers in place (the old policy stays until the new one is in)", async () => {
    const { dp, v4, log, state } = nftRig();
    v4.failNext = 1;
    await assert.rejects(dp.apply(state));
    assert.ok(!log.includes("leftovers"), "the old dataplane stays while ours is not in");
    // The families load at once: IPv6's went in, and the retry has nothing left to write there.
    assert.deepEqual(log, ["nft ip6"]);
    await dp.apply(state);
    assert.deepEqual(log, ["nft ip6", "nft ip", "leftovers"]);
  });

  test("the families' transactions run at once: IPv6's starts before IPv4's has finished", async () => {
    const { dp, v4, v6, state } = nftRig();
    const order: string[] = [];
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const [t4, t6] = [v4.transact.bind(v4), v6.transact.bind(v6)];
    v4.transact = async (s: string) => {
      order.push("ip start");
      await held;
      await t4(s);
      order.push("ip done");
    };
    v6.transact = async (s: string) => {
      order.push("ip6 start");
      await t6(s);
      release();
    };
    await dp.apply(state);
    assert.deepEqual(order, ["ip start", "ip6 start", "ip done"]);
  });

  test("iptables mode removes our nft tables only after its rules are in", async () => {
    const sets = new FakeIpsetBackend();
    const ipt = new FakeIptablesBackend(4, "legacy", sets);
    const nft4 = new FakeNftBackend("ip");
    const nft6 = new FakeNftBackend("ip6", nft4);
    const nftState = nftRig().state;
    await new NftTableSyncer(nft4).apply(nftState.iptables.ipv4, nftState.ipsets);
    await new NftTableSyncer(nft6).apply(nftState.iptables.ipv6, nftState.ipsets);
    assert.ok(nft4.tables.has("ip calico"), [...nft4.tables.keys()].join());
    const dp = new Dataplane({
      ipsets: new IpsetSyncer(sets),
      ipv4: new TableSyncer(ipt, { retries: 0 }),
      leftovers: new NftLeftovers([nft4, nft6]),
    });
    ipt.failNext = 1;
    const state = new CalcGraph({ nodeName: "node1" }).apply(updates);
    await assert.rejects(dp.apply(state));
    assert.ok(nft4.tables.has("ip calico"), "the nft tables stay while the iptables rules are not in");
    const r = await dp.apply(state);
    assert.ok(r.iptablesBytes > 0);
    assert.equal(nft4.tables.size, 0, "both families' calico tables are gone");
  });
});
