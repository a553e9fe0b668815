// The nftables table syncer on the real nft in a throwaway namespace: a cold
// load is one transaction and reads back as desired (`nft -s list table`
// prints the very text felix-dump renders, up to the kernel's order of a hash
// set's elements); a change writes only itself; drift made with nft itself is
// repaired after a refresh; other tables (iptables-nft's `ip filter`,
// kube-proxy's `ip kube-proxy`) are never touched; and the kernel's verdict
// follows a set element added or removed.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { withIpSets } from "../../model/ipset-shards.js";
import { ExecNftBackend, type NftBackend, NftError, type NftFamily } from "../../nftables/backend.js";
import { NFT_TABLES } from "../../nftables/names.js";
import { removeNftTables } from "../../nftables/remove.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { renderedParts, renderNftRuleset, renderNftTable } from "../../nftables/table-text.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";
import { blockedOutputDesired, chain, Recording, r, SEND_UDP, set, sets, smallDesired, tables } from "./fixtures.js";
import { desiredTables, readOurTables, sortedElements } from "./golden-state.js";

const missing = ["nft", "iptables-nft", "python3"].find((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
const skip = netnsSkipReason() ?? (missing && `needs ${missing}`);

function sh(ns: string, cmd: string, args: string[], input?: string): { code: number; out: string } {
  const p = spawnSync("ip", ["netns", "exec", ns, cmd, ...args], { input, encoding: "utf8" });
  return { code: p.status ?? 1, out: p.stdout + p.stderr };
}

function nft(ns: string, ...args: string[]): string {
  const p = sh(ns, "nft", args);
  assert.equal(p.code, 0, p.out);
  return p.out;
}

/** Our tables as the kernel holds them, and what they must read back as once `d` is loaded. */
const kernelView = (b: NftBackend) => readOurTables(b);
const desiredView = async (family: NftFamily, d: ReturnType<typeof smallDesired>) => desiredTables(family, d);

/** `nft -s list table` of each of our tables there is, as renderNftTable joins them. */
function listOurs(ns: string, family: NftFamily): string {
  const listings = NFT_TABLES.map((t) => sh(ns, "nft", ["-s", "list", "table", family, t])).filter((p) => p.code === 0);
  return listings.map((p) => p.out).join("\n");
}

describe("nftables syncer on the real nft", { ...skipIf(skip), timeout: 120_000 }, () => {
  let ns = "";
  before(() => {
    ns = createNetns("fxnft");
    sh(ns, "ip", ["link", "set", "lo", "up"]);
  });
  after(() => deleteNetns(ns));

  const foreign = () => ({
    filter: nft(ns, "list", "table", "ip", "filter"),
    kp: nft(ns, "list", "table", "ip", "kube-proxy"),
  });

  test("cold load, one transaction per table (nat first); nft lists the rendered text; a second apply writes nothing", async () => {
    // Someone else's tables first: iptables-nft's and kube-proxy's.
    assert.equal(sh(ns, "iptables-nft", ["-A", "FORWARD", "-s", "10.9.0.0/16", "-j", "DROP"]).code, 0);
    nft(ns, "-f", "-");
    const kp = sh(
      ns,
      "nft",
      ["-f", "-"],
      "table ip kube-proxy {\n\tchain services {\n\t\tip daddr 10.96.0.1 tcp dport 443 counter\n\t}\n}\n",
    );
    assert.equal(kp.code, 0, kp.out);
    const before = foreign();

    const b = new Recording("ip", ns);
    const d = smallDesired();
    const res = await new NftTableSyncer(b).apply(d.tables, d.sets);
    assert.deepEqual(b.scripts.map((s) => /^table ip (\S+) \{/.exec(s)?.[1]).sort(), ["calico", "calico-nat"]);
    assert.equal(res.chainsWritten, 6);
    assert.equal(sortedElements(listOurs(ns, "ip")), sortedElements(renderNftTable("ip", d.tables, d.sets)));
    assert.equal((await new NftTableSyncer(b).apply(d.tables, d.sets)).linesWritten, 0, "read back equals desired");
    assert.deepEqual(foreign(), before, "foreign tables untouched");
  });

  test("every set type in both families lists exactly as rendered (types, flags, element wrapping)", async () => {
    const all = sets(
      set("cali40s:n", "hash:net", ["10.0.0.1", "10.0.3.0/24", "192.168.0.0/16", "10.0.0.9/32", "10.0.0.7"]),
      set("cali40s:pods", "hash:net", ["10.0.0.1", "10.0.0.2", "10.0.0.3/32", "10.0.0.4", "10.0.0.5"]),
      set("cali60s:pods", "hash:net", ["fd00::1", "fd00::2", "fd00::3"], 6),
      set("cali40n:p", "hash:ip,port", ["10.0.0.1,tcp:80", "10.0.0.2,udp:53", "10.0.0.3,sctp:9"]),
      set("cali40x:ipi", "hash:ip,port,ip", ["10.0.0.1,tcp:80,10.0.0.1", "10.0.0.2,tcp:80,10.0.0.2"]),
      set("cali40x:ipn", "hash:ip,port,net", ["10.0.0.1,tcp:80,10.9.0.0/16", "10.0.0.2,udp:53,10.8.0.0/16"]),
      set("cali60s:n", "hash:net", ["fd00::1", "fd00:1::/64", "fd00::2/128", "fd00::3"], 6),
      set("cali60n:p", "hash:ip,port", ["fd00::1,tcp:80", "fd00::2,udp:53"], 6),
      set("cali60x:ipn", "hash:ip,port,net", ["fd00::1,tcp:80,fd09::/32", "fd00::2,tcp:80,fd08::/32"], 6),
    );
    const empty = tables({});
    for (const family of ["ip", "ip6"] as const) {
      const b = new ExecNftBackend(family, ["ip", "netns", "exec", ns]);
      await removeNftTables([b]);
      await new NftTableSyncer(b).apply(empty, all);
      assert.equal(sortedElements(listOurs(ns, family)), sortedElements(renderNftTable(family, empty, all)));
      await removeNftTables([b]);
    }
  });

  test("one element added, one chain changed: each transaction holds only that; the kernel reads back as desired", async () => {
    const b = new Recording("ip", ns);
    const syncer = new NftTableSyncer(b);
    const d = smallDesired();
    await syncer.apply(d.tables, d.sets);
    b.scripts.length = 0;
    const before = foreign();
    const sets = withIpSets(d.sets, [
      ["cali40n:web", set("cali40n:web", "hash:ip,port", ["10.0.1.5,tcp:80", "10.0.1.6,tcp:8080", "10.0.1.7,udp:53"])],
    ]);
    await syncer.apply(d.tables, sets);
    assert.deepEqual(b.scripts, ["add element ip calico cali40n.web { 10.0.1.7 . udp . 53 }\n"]);

    const fw = chain("cali-fw-cali1234", r("ct state established,related accept", "fw1"), r("drop", "fw9"));
    const filter = tables({ filter: { chains: [fw, ...others(d)], hooks: d.tables.filter.hooks } }).filter;
    const next = { tables: { ...d.tables, filter }, sets };
    const res = await syncer.apply(next.tables, next.sets);
    assert.equal(res.chainsWritten, 1);
    assert.deepEqual(
      b.scripts
        .at(-1)!
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(" ").slice(0, 6).join(" ")),
      [
        "flush chain ip calico filter-cali-fw-cali1234",
        "add rule ip calico filter-cali-fw-cali1234 ct",
        "add rule ip calico filter-cali-fw-cali1234 drop",
      ],
    );
    assert.deepEqual(await kernelView(b), await desiredView("ip", next));
    assert.deepEqual(foreign(), before, "foreign tables untouched");
  });

  test("drift made with nft (a rule and an element deleted; a rule, a chain and a map added; a policy and a hook changed) is repaired on refresh", async () => {
    const b = new Recording("ip", ns);
    const syncer = new NftTableSyncer(b);
    const d = smallDesired();
    await syncer.apply(d.tables, d.sets);
    const j = JSON.parse(nft(ns, "-j", "list", "table", "ip", "calico")) as {
      nftables: { rule?: { comment?: string; handle: number } }[];
    };
    const handle = j.nftables.find((i) => i.rule?.comment === "cali:fw2")!.rule!.handle;
    nft(ns, "delete", "rule", "ip", "calico", "filter-cali-fw-cali1234", "handle", String(handle));
    nft(ns, "delete", "element", "ip", "calico", "cali40s.frontend", "{ 10.0.2.0/24 }");
    nft(ns, "add", "rule", "ip", "calico", "filter-FORWARD", "counter");
    nft(ns, "add", "map", "ip", "calico", "stale", "{ type ifname : verdict; }");
    // A base chain's policy turned to drop, another re-hooked at another priority.
    nft(ns, "add", "chain", "ip", "calico", "filter-FORWARD", "{ type filter hook forward priority 0; policy drop; }");
    nft(ns, "flush", "chain", "ip", "calico-nat", "nat-POSTROUTING");
    nft(ns, "delete", "chain", "ip", "calico-nat", "nat-POSTROUTING");
    nft(
      ns,
      "add",
      "chain",
      "ip",
      "calico-nat",
      "nat-POSTROUTING",
      "{ type nat hook postrouting priority 50; policy accept; }",
    );
    nft(ns, "add", "chain", "ip", "calico", "filter-cali-stale");
    assert.notDeepEqual(await kernelView(b), await desiredView("ip", d));
    syncer.invalidate();
    const res = await syncer.apply(d.tables, d.sets);
    assert.equal(res.chainsWritten, 3);
    assert.equal(res.hooksWritten, 2);
    assert.equal(res.elementsAdded, 1);
    assert.equal(res.chainsDeleted, 1);
    assert.equal(res.setsDeleted, 1, "the map left in our table");
    assert.deepEqual(await kernelView(b), await desiredView("ip", d));
  });

  test("a big new set on a loaded table goes in chunks of one transaction; emptying it deletes in chunks too", async () => {
    const b = new Recording("ip", ns);
    const syncer = new NftTableSyncer(b);
    const d = smallDesired();
    await syncer.apply(d.tables, d.sets);
    const members = Array.from({ length: 2500 }, (_, i) => `10.${100 + (i >> 8)}.${i & 255}.1`);
    const big = withIpSets(d.sets, [["cali40s:big", set("cali40s:big", "hash:net", members)]]);
    await syncer.apply(d.tables, big);
    assert.equal(b.scripts.length, 1);
    assert.equal(b.scripts[0].match(/^add element /gm)?.length, 3);
    assert.deepEqual(await kernelView(b), await desiredView("ip", { tables: d.tables, sets: big }));
    const emptied = withIpSets(d.sets, [["cali40s:big", set("cali40s:big", "hash:net", [])]]);
    await syncer.apply(d.tables, emptied);
    assert.equal(b.scripts[1].match(/^delete element /gm)?.length, 3);
    assert.deepEqual(await kernelView(b), await desiredView("ip", { tables: d.tables, sets: emptied }));
  });

  test("the kernel's verdict follows the set: an element added drops, removed lets through", async () => {
    const b = new ExecNftBackend("ip", ["ip", "netns", "exec", ns]);
    const syncer = new NftTableSyncer(b);
    const { tables: t, sets: blocked } = blockedOutputDesired();
    const send = () => sh(ns, "python3", SEND_UDP).code;
    await syncer.apply(t, blocked());
    assert.equal(send(), 0, "empty set: the packet goes out");
    await syncer.apply(t, blocked("127.0.0.0/24"));
    assert.notEqual(send(), 0, "in the set: dropped at output (sendto gets EPERM)");
    await syncer.apply(t, blocked("127.0.1.0/24"));
    assert.equal(send(), 0, "out of the set again");
  });

  test("the last retry replaces a loaded table in one transaction (listing failing): nft accepts it, other tables stay", async () => {
    const b = new Recording("ip", ns);
    const d = smallDesired();
    await new NftTableSyncer(b).apply(d.tables, d.sets);
    const before = foreign();
    let failing = 3;
    const broken = Object.assign(Object.create(b) as Recording, {
      list: async () => {
        if (failing-- > 0) throw new NftError("listing refused");
        return b.list();
      },
    });
    const next = withIpSets(d.sets, [["cali40s:pools", set("cali40s:pools", "hash:net", ["10.3.0.0/16"])]]);
    await new NftTableSyncer(broken, { retries: 3, sleep: async () => {} }).apply(d.tables, next);
    assert.match(b.scripts.at(-1)!, /^add table ip calico\ndelete table ip calico\ntable ip calico \{/);
    assert.deepEqual(await kernelView(b), await desiredView("ip", { tables: d.tables, sets: next }));
    assert.deepEqual(foreign(), before, "foreign tables untouched");
  });

  test("upgrade from the one-table layout (nat chains in `calico`): one transaction moves them to `calico-nat`", async () => {
    const d = smallDesired();
    const b = new Recording("ip", ns);
    await removeNftTables([b]);
    // What an agent before the split loaded: every chain and set in `ip calico`.
    const [policy, nat] = renderedParts("ip", d.tables, d.sets).map((p) => p.text);
    const body = (t: string) => t.slice(t.indexOf("{\n") + 2, t.lastIndexOf("}"));
    assert.equal(sh(ns, "nft", ["-f", "-"], `table ip calico {\n${body(policy)}\n${body(nat)}}\n`).code, 0);
    assert.ok((await b.list("calico"))?.includes("nat-POSTROUTING"));
    b.scripts.length = 0;
    const res = await new NftTableSyncer(b).apply(d.tables, d.sets);
    assert.equal(b.scripts.length, 1, "one transaction: packets see the old layout or the new one");
    assert.equal(res.chainsDeleted, 2, "nat-POSTROUTING and nat-cali-nat-outgoing leave `calico`");
    assert.equal(
      res.setsDeleted,
      0,
      "the NAT pools set stays in `calico` (every set is there), and goes into `calico-nat`",
    );
    assert.deepEqual(await kernelView(b), await desiredView("ip", d));
    assert.equal((await new NftTableSyncer(b).apply(d.tables, d.sets)).linesWritten, 0);
    await removeNftTables([b]);
  });

  test("felix-dump's ruleset text (both families) loads with one nft -f and reads back as desired", async () => {
    const d = smallDesired();
    const six = tables({ filter: { chains: [chain("cali-x", r("ip6 saddr @cali60s.frontend accept", "x1"))] } });
    const state = { iptables: { ipv4: d.tables, ipv6: six }, ipsets: d.sets };
    assert.ok(!renderNftRuleset(state, false).includes("table ip6"));
    const b4 = new ExecNftBackend("ip", ["ip", "netns", "exec", ns]);
    const b6 = new ExecNftBackend("ip6", ["ip", "netns", "exec", ns]);
    await removeNftTables([b4, b6]);
    await b4.transact(renderNftRuleset(state, true));
    assert.deepEqual(await kernelView(b4), await desiredView("ip", d));
    assert.deepEqual(await kernelView(b6), await desiredView("ip6", { tables: six, sets: d.sets }));
    await removeNftTables([b4, b6]);
  });

  test("ip6: the IPv6 table with the IPv6 sets; removeNftTables removes both of ours and nothing else", async () => {
    const b6 = new ExecNftBackend("ip6", ["ip", "netns", "exec", ns]);
    const d = smallDesired();
    const six = tables({
      filter: {
        chains: [chain("cali-x", r("ip6 saddr @cali60s.frontend accept", "x1"))],
        hooks: { FORWARD: { insert: [r("jump filter-cali-x", "h6")], append: [] } },
      },
    });
    await new NftTableSyncer(b6).apply(six, d.sets);
    assert.deepEqual(await kernelView(b6), await desiredView("ip6", { tables: six, sets: d.sets }));
    const before = foreign();
    const b4 = new ExecNftBackend("ip", ["ip", "netns", "exec", ns]);
    await new NftTableSyncer(b4).apply(d.tables, d.sets);
    assert.deepEqual(await removeNftTables([b4, b6]), ["ip", "ip6"]);
    for (const t of NFT_TABLES) {
      assert.equal(await b4.list(t), undefined, t);
      assert.equal(await b6.list(t), undefined, t);
    }
    assert.deepEqual(foreign(), before, "foreign tables untouched");
    assert.deepEqual(await removeNftTables([b4, b6]), [], "nothing left to remove");
  });
});

function others(d: ReturnType<typeof smallDesired>) {
  return Object.values(d.tables.filter.shards)
    .flatMap((s) => Object.values(s))
    .filter((c) => c.name !== "cali-fw-cali1234");
}
