// The nft syncer with the netlink backend (as the agent runs it) against the
// real kernel, in a throwaway namespace: packets follow a set changed over
// netlink; drift made with nft (rules, elements, a stale map, a base chain's
// policy and hook, a stale chain) is repaired from the netlink read-back; a
// chain someone put into our table under a name we would not write fails the
// diff, and the last retry replaces the table (nft -f) without touching
// anyone else's.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { ExecNftBackend } from "../../nftables/backend.js";
import { countersFromJson } from "../../nftables/counters.js";
import { NetlinkNftBackend } from "../../nftables/netlink/backend.js";
import { RelayTransport } from "../../nftables/netlink/relay.js";
import { desiredView } from "../../nftables/plan.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { parseNftJson } from "../../nftables/view.js";
import { diffNftTable } from "../../src/dump/live-diff-nft.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";
import { blockedOutputDesired, SEND_UDP, smallDesired } from "./fixtures.js";
import { plainView } from "./golden-state.js";

const missing = ["nft", "python3"].find((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
const skip = netnsSkipReason() ?? (missing && `needs ${missing}`);

describe("the nft syncer writing and reading over netlink", { ...skipIf(skip), timeout: 120_000 }, () => {
  let ns = "";
  let b: NetlinkNftBackend;
  before(() => {
    ns = createNetns("fxnftnl");
    spawnSync("ip", ["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
    b = new NetlinkNftBackend(new ExecNftBackend("ip", ["ip", "netns", "exec", ns]), new RelayTransport(ns));
  });
  after(() => {
    b?.close();
    deleteNetns(ns);
  });

  const sh = (cmd: string, ...args: string[]) =>
    spawnSync("ip", ["netns", "exec", ns, cmd, ...args], { encoding: "utf8" });
  const nft = (...args: string[]) => {
    const p = sh("nft", ...args);
    assert.equal(p.status, 0, p.stderr);
    return p.stdout;
  };
  const kernel = async () => plainView(parseNftJson((await b.list()) as string));

  test("packets follow a set changed over netlink: an element added drops, removed lets through", async () => {
    nft("flush", "ruleset");
    const syncer = new NftTableSyncer(b, { retries: 0 });
    const { tables: t, sets: blocked } = blockedOutputDesired();
    const send = () => sh("python3", ...SEND_UDP).status;
    assert.equal((await syncer.apply(t, blocked("127.0.1.1"))).via, "nft", "the cold start is one nft -f");
    assert.equal(send(), 0, "not in the set: the packet goes out");
    const add = await syncer.apply(t, blocked("127.0.1.1", "127.0.0.5"));
    assert.equal(add.via, "netlink");
    assert.equal(add.linesWritten, 1, "one add element");
    assert.notEqual(send(), 0, "in the set: dropped at output (sendto gets EPERM)");
    assert.equal((await syncer.apply(t, blocked("127.0.1.1"))).via, "netlink");
    assert.equal(send(), 0, "out of the set again");
    // A CIDR makes it an interval set: re-created with the chain using it, in one batch.
    const cidr = await syncer.apply(t, blocked("127.0.0.0/24"));
    assert.equal(cidr.via, "netlink");
    assert.notEqual(send(), 0, "inside the CIDR: dropped");
    assert.deepEqual(await kernel(), plainView(desiredView("ip", { tables: t, sets: blocked("127.0.0.0/24") })));
  });

  test("counter values are not drift: a refresh after traffic writes nothing, over netlink or nft -j", async () => {
    nft("flush", "ruleset");
    const { tables: t, sets: blocked } = blockedOutputDesired();
    const want = blocked("127.0.0.5");
    const syncer = new NftTableSyncer(b, { retries: 0 });
    await syncer.apply(t, want);
    for (let i = 0; i < 3; i++) assert.notEqual(sh("python3", ...SEND_UDP).status, 0, "dropped");
    assert.match(nft("list", "table", "ip", "calico"), /@cali40s\.blocked counter packets 3 bytes \d+ drop/);
    // The counters as felix-dump hits reads them: over netlink, the same as nft -j gives.
    const counters = await b.readCounters();
    assert.deepEqual(counters, countersFromJson((await b.list()) as string));
    assert.deepEqual(
      counters?.find((c) => c.hash === "o1"),
      { chain: "filter-cali-OUTPUT", hash: "o1", packets: 3, bytes: 3 * 29 },
      "three 29-byte datagrams (20 IP + 8 UDP + 1)",
    );
    syncer.invalidate();
    const viaNetlink = await syncer.apply(t, want);
    assert.equal(viaNetlink.via, "none", "the netlink read-back saw no difference");
    const exec = new NftTableSyncer(new ExecNftBackend("ip", ["ip", "netns", "exec", ns]), { retries: 0 });
    const viaJson = await exec.apply(t, want);
    assert.equal(viaJson.via, "none", "the nft -j read-back saw no difference");
    assert.equal(viaJson.bytesWritten, 0);
  });

  test("drift made with nft is repaired from the netlink read-back", async () => {
    nft("flush", "ruleset");
    nft("add", "table", "ip", "filter");
    nft("add", "chain", "ip", "filter", "theirs");
    const syncer = new NftTableSyncer(b, { retries: 0 });
    const d = smallDesired();
    await syncer.apply(d.tables, d.sets);
    const j = JSON.parse(nft("-j", "list", "table", "ip", "calico")) as {
      nftables: { rule?: { comment?: string; handle: number } }[];
    };
    const handle = j.nftables.find((i) => i.rule?.comment === "cali:fw2")?.rule?.handle;
    nft("delete", "rule", "ip", "calico", "filter-cali-fw-cali1234", "handle", String(handle));
    nft("delete", "element", "ip", "calico", "cali40s.frontend", "{ 10.0.2.0/24 }");
    nft("add", "element", "ip", "calico", "cali40n.web", "{ 10.9.9.9 . tcp . 1 }");
    nft("add", "rule", "ip", "calico", "filter-FORWARD", "counter");
    nft("add", "chain", "ip", "calico", "filter-FORWARD", "{ type filter hook forward priority 0; policy drop; }");
    nft("add", "chain", "ip", "calico", "filter-cali-stale");
    const want = plainView(desiredView("ip", d));
    assert.notDeepEqual(plainView(await b.readView()), want);
    // felix-dump diff --live reads over netlink now: the same differences as from nft -j.
    const state = { iptables: { ipv4: d.tables }, ipsets: d.sets, nftObjects: {} } as unknown as DesiredState;
    const drift = diffNftTable(state, "ip", await b.readView());
    assert.deepEqual(
      drift.map((x) => `${x.item}: ${x.problem}`),
      [
        "set cali40n.web: 0 elements missing, 1 extra",
        "set cali40s.frontend: 1 elements missing, 0 extra",
        "chain filter-FORWARD: hook filter forward 0, want filter forward 0",
        "chain filter-cali-fw-cali1234: rules differ (1 missing, 0 extra or foreign)",
        "chain filter-cali-stale: stale",
      ],
    );
    assert.deepEqual(diffNftTable(state, "ip", parseNftJson((await b.list()) as string)), drift);
    syncer.invalidate();
    const res = await syncer.apply(d.tables, d.sets);
    assert.equal(res.chainsDeleted, 1);
    assert.equal(res.elementsAdded, 1);
    assert.equal(res.elementsRemoved, 1);
    assert.equal(res.via, "nft", "a base chain's policy is re-declared by nft -f");
    assert.deepEqual(await kernel(), want);
    assert.deepEqual(plainView(await b.readView()), want, "the netlink read-back agrees");
    assert.deepEqual(diffNftTable(state, "ip", await b.readView()), []);
    assert.match(nft("list", "table", "ip", "filter"), /chain theirs/, "a foreign table stays");

    // Without base chains in the drift, the repair goes over netlink.
    nft("delete", "element", "ip", "calico", "cali40s.pools", "{ 10.0.0.0/16 }");
    nft("flush", "chain", "ip", "calico", "filter-cali-from-wl-dispatch");
    syncer.invalidate();
    const again = await syncer.apply(d.tables, d.sets);
    assert.equal(again.via, "netlink");
    assert.deepEqual(await kernel(), want);
  });

  test("a chain put into our table under a name we would not write: the last retry replaces the table", async () => {
    nft("flush", "ruleset");
    nft("add", "table", "ip", "filter");
    nft("add", "chain", "ip", "filter", "theirs");
    const syncer = new NftTableSyncer(b, { retries: 2, sleep: async () => {} });
    const d = smallDesired();
    await syncer.apply(d.tables, d.sets);
    // nft's parser will not take that name; the kernel does (someone else's netlink writer put it there).
    const evil = await b.write([{ op: "add chain", chain: "evil; flush ruleset" }], {
      setKey: () => undefined,
      elementsBefore: () => undefined,
    });
    assert.ok("bytes" in evil);
    assert.match(nft("list", "table", "ip", "calico"), /evil/);
    syncer.invalidate();
    const res = await syncer.apply(d.tables, d.sets);
    assert.equal(res.via, "nft", "replaced by nft -f");
    assert.deepEqual(await kernel(), plainView(desiredView("ip", d)));
    assert.doesNotMatch(nft("list", "table", "ip", "calico"), /evil/);
    assert.match(nft("list", "table", "ip", "filter"), /chain theirs/, "a foreign table stays");
    assert.ok(syncer.failures >= 1);
  });
});
