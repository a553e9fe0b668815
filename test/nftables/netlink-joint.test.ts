// JointBatches (nftables/netlink/joint.ts): the families' batches of one turn
// go to the kernel as one commit, and a refused joint batch goes again part by
// part, so each family's transaction is still its own. First against a fake
// connection (what is sent, what each caller gets), then with both families'
// syncers over one connection into a real kernel.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { ExecNftBackend } from "../../nftables/backend.js";
import { NetlinkNftBackend } from "../../nftables/netlink/backend.js";
import { messageSize, type NfMessage, type RawReply } from "../../nftables/netlink/codec.js";
import { NetlinkUnsupported } from "../../nftables/netlink/elements.js";
import { JointBatches } from "../../nftables/netlink/joint.js";
import { RelayTransport } from "../../nftables/netlink/relay.js";
import { type BatchFailure, NfnlConnection, type NfnlLink } from "../../nftables/netlink/socket.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";
import { chain, r, sets, tables } from "./fixtures.js";
import { desiredTables, readOurTables } from "./golden-state.js";

const msg = (family: number, n: number): NfMessage => ({
  type: 0xa06,
  flags: 0,
  family,
  attrs: [{ type: 1, payload: Buffer.alloc(n) }],
});

/** A connection that records each batch's families and refuses messages of the families in `refuse`. */
class FakeLink implements NfnlLink {
  readonly batches: number[][] = [];
  refuse = new Set<number>();
  tooBig = Number.POSITIVE_INFINITY;
  async batch(messages: readonly NfMessage[]) {
    if (messages.length > this.tooBig) throw new NetlinkUnsupported("a batch of too many bytes");
    this.batches.push(messages.map((m) => m.family));
    const failures: BatchFailure[] = [];
    messages.forEach((m, index) => {
      if (this.refuse.has(m.family)) failures.push({ errno: 2, index });
    });
    return { failures, bytes: 40 + messages.reduce((n, m) => n + messageSize(m), 0) };
  }
  async dump(): Promise<RawReply[]> {
    return [];
  }
  closes = 0;
  close() {
    this.closes++;
  }
}

describe("joint batches against a fake connection", () => {
  const v4 = [msg(2, 8), msg(2, 16)];
  const v6 = [msg(10, 4)];

  test("two batches asked for in one turn are one batch, in order; each caller gets its own bytes", async () => {
    const link = new FakeLink();
    const j = new JointBatches(link);
    const [a, b] = await Promise.all([j.batch(v4), j.batch(v6)]);
    assert.deepEqual(link.batches, [[2, 2, 10]]);
    assert.deepEqual(a.failures, []);
    assert.deepEqual(b.failures, []);
    const whole = 40 + [...v4, ...v6].reduce((n, m) => n + messageSize(m), 0);
    assert.equal(a.bytes + b.bytes, whole, "the parts' bytes sum to the batch's");
    assert.equal(b.bytes, messageSize(v6[0]));
    assert.equal(j.sent, 1);
  });

  test("batches of different turns go apart; a lone batch goes as it is", async () => {
    const link = new FakeLink();
    const j = new JointBatches(link);
    await j.batch(v4);
    await j.batch(v6);
    assert.deepEqual(link.batches, [[2, 2], [10]]);
  });

  test("a refused joint batch goes again part by part: the other family's change is committed", async () => {
    const link = new FakeLink();
    link.refuse.add(10);
    const j = new JointBatches(link);
    const [a, b] = await Promise.all([j.batch(v4), j.batch(v6)]);
    assert.deepEqual(link.batches, [[2, 2, 10], [2, 2], [10]], "joint, then each alone");
    assert.deepEqual(a.failures, [], "ip's part alone was committed");
    assert.deepEqual(b.failures, [{ errno: 2, index: 0 }], "ip6's refusal names its own message");
  });

  test("a joint batch too big for one send goes part by part", async () => {
    const link = new FakeLink();
    link.tooBig = 2;
    const j = new JointBatches(link);
    const [a, b] = await Promise.all([j.batch(v4), j.batch(v6)]);
    assert.deepEqual(link.batches, [[2, 2], [10]]);
    assert.deepEqual([a.failures, b.failures], [[], []]);
  });

  test("a failed exchange fails every part; closing twice closes the connection once", async () => {
    const link = new FakeLink();
    link.batch = async () => {
      throw new Error("no netlink reply within 30000 ms");
    };
    const j = new JointBatches(link);
    const results = await Promise.allSettled([j.batch(v4), j.batch(v6)]);
    assert.deepEqual(
      results.map((x) => x.status),
      ["rejected", "rejected"],
    );
    j.close();
    j.close();
    assert.equal(link.closes, 1);
  });
});

const missing = ["nft"].find((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
const skip = netnsSkipReason() ?? (missing && `needs ${missing}`);

describe("both families' syncers over one joint connection, in the kernel", {
  ...skipIf(skip),
  timeout: 60_000,
}, () => {
  let ns = "";
  let joint: JointBatches;
  let ip: NetlinkNftBackend;
  let ip6: NetlinkNftBackend;
  before(() => {
    ns = createNetns("fxnftjoint");
    joint = new JointBatches(new NfnlConnection(new RelayTransport(ns)));
    const inNs = ["ip", "netns", "exec", ns];
    ip = new NetlinkNftBackend(new ExecNftBackend("ip", inNs), joint);
    ip6 = new NetlinkNftBackend(new ExecNftBackend("ip6", inNs), joint);
  });
  after(() => {
    joint?.close();
    deleteNetns(ns);
  });

  const nft = (...args: string[]) => {
    const p = spawnSync("ip", ["netns", "exec", ns, "nft", ...args], { encoding: "utf8" });
    assert.equal(p.status, 0, p.stderr);
  };
  /** A filter table whose endpoint chain holds `n` rules (valid in both families). */
  const want = (n: number) => ({
    tables: tables({
      filter: {
        chains: [
          chain("cali-tw-cali1", ...Array.from({ length: n }, (_, i) => r(`tcp dport ${i + 1} accept`, `t${i}`))),
          chain("cali-FORWARD", r('oifname "cali1" jump filter-cali-tw-cali1', "f1")),
        ],
        hooks: { FORWARD: { insert: [r("jump filter-cali-FORWARD", "h1")], append: [] } },
      },
    }),
    sets: sets(),
  });
  const both = (s4: NftTableSyncer, s6: NftTableSyncer, n: number) => {
    const w = want(n);
    return Promise.all([s4.apply(w.tables, w.sets), s6.apply(w.tables, w.sets)]);
  };

  test("a change of both families is one batch, and both kernels hold it", async () => {
    const s4 = new NftTableSyncer(ip, { retries: 0 });
    const s6 = new NftTableSyncer(ip6, { retries: 0 });
    await both(s4, s6, 1); // the cold start (nft -f), then the changes over netlink
    const before = joint.sent;
    const [a, b] = await both(s4, s6, 3);
    assert.deepEqual([a.via, b.via], ["netlink", "netlink"]);
    assert.equal(joint.sent - before, 1, "one batch for both families");
    assert.deepEqual(await readOurTables(ip), desiredTables("ip", want(3)));
    assert.deepEqual(await readOurTables(ip6), desiredTables("ip6", want(3)));
  });

  test("one family refused: the other's change stays committed, the refused one is repaired by its retry", async () => {
    const s4 = new NftTableSyncer(ip, { retries: 2, initialBackoffMs: 1 });
    const s6 = new NftTableSyncer(ip6, { retries: 2, initialBackoffMs: 1 });
    nft("flush", "ruleset");
    await both(s4, s6, 1);
    await both(s4, s6, 2);
    // Behind the ip6 syncer's back: its next flush of cali-tw-cali1 names a chain that is gone.
    nft("delete", "rule", "ip6", "calico", "filter-cali-FORWARD", "handle", handleOf("ip6", "filter-cali-FORWARD"));
    nft("delete", "chain", "ip6", "calico", "filter-cali-tw-cali1");
    const before = joint.sent;
    const [a, b] = await both(s4, s6, 4);
    assert.equal(a.via, "netlink");
    assert.ok(s6.failures >= 1, "ip6's transaction was refused at least once");
    assert.equal(s4.failures, 0, "ip's transaction never was");
    assert.ok(joint.sent - before >= 3, "the refused joint batch, then each part alone");
    assert.ok(b.linesWritten > 0);
    assert.deepEqual(await readOurTables(ip), desiredTables("ip", want(4)));
    assert.deepEqual(await readOurTables(ip6), desiredTables("ip6", want(4)));
  });

  /** The handle of the one rule in `chain` of our table of `family`. */
  function handleOf(family: string, chainName: string): string {
    const p = spawnSync("ip", ["netns", "exec", ns, "nft", "-a", "list", "chain", family, "calico", chainName], {
      encoding: "utf8",
    });
    const m = /# handle (\d+)\s*$/m.exec(p.stdout.split("\n").find((l) => l.includes("jump")) ?? "");
    assert.ok(m, p.stdout);
    return m[1];
  }
});
