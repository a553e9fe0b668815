// The netlink writer against the real kernel, in throwaway namespaces. Every
// golden case is written over netlink (sets, elements, chains, rules, by the
// planner's own commands; only the base chains are declared by nft -f first)
// into one namespace and loaded by `nft -f` into another: `nft -s list` of the
// netlink one prints what renderNftTable rendered, and `nft --debug=netlink
// list` prints the same bytecode for both (so the expressions are nft's own,
// not merely something that lists alike). A batch refused in its middle
// changes nothing and names the refused command.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, test } from "node:test";
import { ExecNftBackend, NftError, type NftFamily } from "../../nftables/backend.js";
import { baseChainLine } from "../../nftables/chains.js";
import type { NftCommand } from "../../nftables/commands.js";
import { NetlinkNftBackend } from "../../nftables/netlink/backend.js";
import { attrString, NftMsg, nftType, parseAttrs, str } from "../../nftables/netlink/codec.js";
import { NFPROTO_IPV4, NFPROTO_IPV6 } from "../../nftables/netlink/messages.js";
import { RelayTransport } from "../../nftables/netlink/relay.js";
import { NfnlConnection } from "../../nftables/netlink/socket.js";
import { splitDesired } from "../../nftables/parts.js";
import { desiredView, planNft, setAfter } from "../../nftables/plan.js";
import { renderedParts } from "../../nftables/table-text.js";
import { type NftView, parseNftJson } from "../../nftables/view.js";
import { caseNames } from "../golden-cases.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, inNetns, netnsSkipReason } from "../routes/netns.js";
import { goldenNftState, INEXPRESSIBLE, plainView, sortedElements } from "./golden-state.js";
import { textTables } from "./ruleset-listing.js";

const skip = netnsSkipReason() ?? (spawnSync("sh", ["-c", "command -v nft"]).status !== 0 && "needs nft");

let viaNft = "";
let viaNetlink = "";
const writers: Partial<Record<NftFamily, NetlinkNftBackend>> = {};
/** One netlink connection per namespace for the set dumps (a relay is a node process: one per case cost ~40 s). */
const dumpers = new Map<string, NfnlConnection>();
before(() => {
  if (skip) return;
  viaNft = createNetns("nlgold-nft");
  viaNetlink = createNetns("nlgold-nl");
  for (const f of ["ip", "ip6"] as const) {
    writers[f] = new NetlinkNftBackend(new ExecNftBackend(f, inNetns(viaNetlink)), new RelayTransport(viaNetlink));
  }
  for (const ns of [viaNft, viaNetlink]) dumpers.set(ns, new NfnlConnection(new RelayTransport(ns)));
});
after(() => {
  for (const w of Object.values(writers)) w?.close();
  for (const c of dumpers.values()) c.close();
  if (viaNft) deleteNetns(viaNft);
  if (viaNetlink) deleteNetns(viaNetlink);
});

function nft(ns: string, args: string[], input?: string) {
  const [cmd, ...rest] = [...inNetns(ns), "nft", ...args];
  const r = spawnSync(cmd!, rest, { encoding: "utf8", input, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `nft ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/**
 * `nft -s --debug=netlink list ruleset <family>` (one nft process per
 * namespace and family, not one per table): its bytecode cut by table, handles
 * dropped, each set's element lines sorted, and sets and chains in name order
 * (the writer creates the regular chains after nft made the base chains; a
 * listing follows creation order), every table of the listing proper in the
 * map, with no bytecode when it has no sets or rules; and the listing proper,
 * which is what `nft -s list ruleset <family>` prints (-s leaves the bytecode
 * as it is).
 */
function bytecodes(ns: string, family: NftFamily): { codes: Map<string, string>; listing: string } {
  const tables = new Map<string, string[][]>();
  let blocks: string[][] | undefined;
  const listing = nft(ns, ["-s", "--debug=netlink", "list", "ruleset", family]).split("\n");
  const proper = listing.findIndex((l) => l.startsWith("table ")); // the listing proper follows the bytecode
  assert.ok(proper >= 0, `${ns} ${family}: no table listed`);
  for (const line of listing.slice(0, proper)) {
    // `ip calico @<set>` heads a set's elements, `ip calico <chain> <handle> [<position>]` a rule.
    const head = /^ip6? (\S+) (\S+)( \d+)*$/.exec(line);
    if (head) {
      blocks = tables.get(head[1]) ?? [];
      tables.set(head[1], blocks);
      blocks.push([head[2]]);
    } else if (blocks) blocks[blocks.length - 1].push(line);
    else assert.fail(`${ns} ${family}: bytecode before the first table's: ${line}`);
  }
  for (const line of listing.slice(proper)) {
    const table = /^table ip6? (\S+) \{$/.exec(line)?.[1];
    if (table && !tables.has(table)) tables.set(table, []);
  }
  const out = new Map<string, string>();
  for (const [table, bs] of tables) {
    for (const b of bs) if (b[0].startsWith("@")) b.splice(1, b.length - 1, ...b.slice(1).sort());
    out.set(table, stableByName(bs));
  }
  return { codes: out, listing: listing.slice(proper).join("\n") };
}

/** Blocks (first line = name) sorted by name, order within one name kept. */
function stableByName(blocks: string[][]): string {
  return blocks
    .map((b, i) => ({ b, i }))
    .sort((x, y) => (x.b[0] < y.b[0] ? -1 : x.b[0] > y.b[0] ? 1 : x.i - y.i))
    .map((x) => x.b.join("\n"))
    .join("\n");
}

const NFTA_SET_HANDLE = 16;

/**
 * Every set and map of our table (anonymous ones too) as the kernel holds it,
 * attribute by attribute (flags, key and data types, size, timeout, nft's user
 * data), the handle left out: what `nft --debug=netlink list` does not print.
 */
async function setDeclarations(ns: string, family: NftFamily, table: string): Promise<string> {
  const conn = dumpers.get(ns) as NfnlConnection;
  const nfproto = family === "ip" ? NFPROTO_IPV4 : NFPROTO_IPV6;
  const replies = await conn.dump({
    type: nftType(NftMsg.GETSET),
    flags: 0,
    family: nfproto,
    attrs: [str(1, table)],
  });
  return replies
    .map((m) => {
      const a = parseAttrs(m.body.subarray(4));
      const fields = a.all
        .filter((x) => x.type !== NFTA_SET_HANDLE)
        .map((x) => `${x.type}=${x.payload.toString("hex")}`);
      return `${attrString(a.get(2))}: ${fields.join(" ")}`;
    })
    .sort()
    .join("\n");
}

/** `nft list table` text with its set and chain blocks in name order. */
function byName(listing: string): string {
  const blocks: string[][] = [];
  for (const line of sortedElements(listing).split("\n")) {
    if (/^\t(set|chain) /.test(line) || blocks.length === 0) blocks.push([line]);
    else blocks[blocks.length - 1].push(line);
  }
  return stableByName(blocks.map((b) => b.filter((l) => l !== "" && l !== "}")));
}

/** The first differing line of two listings, with the lines before it. */
function firstDifference(a: string, b: string): string {
  const [x, y] = [a.split("\n"), b.split("\n")];
  let i = 0;
  while (i < x.length && x[i] === y[i]) i++;
  return `${x.slice(Math.max(0, i - 8), i).join("\n")}\nnetlink: ${x[i]}\nother:   ${y[i]}`;
}

/** Only the base chains, declared by nft -f, as the writer leaves them to it. */
function baseChainsOnly(family: NftFamily, table: string, want: NftView): { script: string; view: NftView } {
  const view: NftView = { chains: new Map(), sets: new Map() };
  let script = `add table ${family} ${table}\n`;
  for (const [name, c] of want.chains) {
    if (!c.base) continue;
    script += `add chain ${family} ${table} ${name} { ${baseChainLine(c.base)} }\n`;
    view.chains.set(name, { base: c.base, hashes: [] });
  }
  return { script, view };
}

for (const name of caseNames().filter((n) => !INEXPRESSIBLE.has(n))) {
  test(`netlink writer: golden case ${name} lists as rendered, with nft's bytecode`, skipIf(skip), async () => {
    const s = await goldenNftState(name);
    for (const family of ["ip", "ip6"] as const) {
      const tables = family === "ip" ? s.iptables.ipv4 : s.iptables.ipv6;
      const rendered = new Map(renderedParts(family, tables, s.ipsets, s.nftObjects).map((p) => [p.table, p.text]));
      if (rendered.size === 0) continue;
      // Both tables of ours in one batch (and one nft -f transaction), as the syncer writes a change.
      const parts = splitDesired({ tables, sets: s.ipsets, objects: s.nftObjects })
        .filter((p) => rendered.has(p.table))
        .map((p) => {
          const base = baseChainsOnly(family, p.table, desiredView(family, p.desired, p.table));
          return { ...p, base, plan: planNft(family, p.desired, base.view, undefined, p.table) };
        });
      // What the case before left goes in the transaction that declares the base chains.
      for (const ns of [viaNft, viaNetlink]) {
        nft(ns, ["-f", "-"], `flush ruleset\n${parts.map((p) => p.base.script).join("")}`);
      }
      // The same transaction through nft -f, for the bytecode nft makes of it.
      nft(viaNft, ["-f", "-"], parts.map((p) => p.plan.script).join(""));
      const w = writers[family] as NetlinkNftBackend;
      const part = (t = "calico") => parts.find((p) => p.table === t);
      const r = await w.write(
        parts.flatMap((p) => p.plan.commands as NftCommand[]),
        {
          setKey: (n, t) => {
            const p = part(t);
            return p && setAfter(p.base.view, p.plan, n);
          },
          elementsBefore: () => undefined,
        },
      );
      // Every case, kube-proxy's maps and affinity sets (FELIX_PROXYMODE=nftables) included: no fallback.
      assert.ok("bytes" in r, `${name} ${family}: not written over netlink: ${"unsupported" in r && r.unsupported}`);

      // One listing of the family, cut by table (what `nft -s list table` prints of each).
      const [ours, theirs] = [bytecodes(viaNetlink, family), bytecodes(viaNft, family)];
      const listing = textTables(ours.listing);
      for (const { table, desired } of parts) {
        const at = `${name} ${family} ${table}`;
        const listed = listing.get(`${family} ${table}`) ?? "";
        const [got, want] = [byName(listed), byName(rendered.get(table) as string)];
        assert.ok(got === want, `${at}: nft -s list differs:\n${firstDifference(got, want)}`);
        // Read back over netlink: what nft -j lists, and the view the syncer expects.
        const viaJson = parseNftJson((await w.list(table)) as string);
        assert.deepEqual(plainView(await w.readView(table)), plainView(viaJson), `${at}: netlink read-back`);
        assert.deepEqual(plainView(viaJson), plainView(desiredView(family, desired, table)), `${at}: as desired`);
        const [codeOurs, codeTheirs] = [ours.codes.get(table), theirs.codes.get(table)];
        assert.ok(codeOurs !== undefined && codeTheirs !== undefined, `${at}: not listed`);
        assert.ok(codeOurs === codeTheirs, `${at}: bytecode differs:\n${firstDifference(codeOurs, codeTheirs)}`);
        const [setsOurs, setsTheirs] = [
          await setDeclarations(viaNetlink, family, table),
          await setDeclarations(viaNft, family, table),
        ];
        assert.ok(setsOurs === setsTheirs, `${at}: sets differ:\n${firstDifference(setsOurs, setsTheirs)}`);
      }
    }
  });
}

const key = { type: "ipv4_addr", interval: true };
const onlyS = { setKey: (n: string) => (n === "s" ? key : undefined), elementsBefore: () => undefined };

test("a batch refused in its middle changes nothing and names the refused command", skipIf(skip), async () => {
  nft(viaNetlink, ["flush", "ruleset"]);
  nft(viaNetlink, ["-f", "-"], "table ip calico {\n  chain filter-keep {\n    accept\n  }\n}\n");
  const before = nft(viaNetlink, ["list", "ruleset"]);
  const cmds: NftCommand[] = [
    { op: "add set", set: "s", key },
    { op: "add element", set: "s", key, elements: ["10.0.0.0/24"] },
    { op: "flush chain", chain: "filter-keep" },
    { op: "add chain", chain: "filter-a" },
    { op: "add rule", chain: "filter-a", rule: 'ip saddr @s accept comment "cali:a"' },
    { op: "add rule", chain: "filter-a", rule: 'jump filter-missing comment "cali:b"' },
    { op: "add chain", chain: "filter-z" },
  ];
  const w = writers.ip as NetlinkNftBackend;
  await assert.rejects(
    w.write(cmds, onlyS),
    (e: Error) =>
      e instanceof NftError && e.lineNumber === 5 && /ENOENT/.test(e.message) && /filter-missing/.test(e.message),
  );
  assert.equal(nft(viaNetlink, ["list", "ruleset"]), before);
  // The same commands without the bad rule go in.
  const ok = await w.write(
    cmds.filter((_c, i) => i !== 5),
    onlyS,
  );
  assert.ok("bytes" in ok);
  assert.match(nft(viaNetlink, ["list", "chain", "ip", "calico", "filter-a"]), /ip saddr @s accept comment "cali:a"/);
});

test("what the writer cannot express is reported before anything is sent", skipIf(skip), async () => {
  nft(viaNetlink, ["flush", "ruleset"]);
  nft(viaNetlink, ["add", "table", "ip", "calico"]);
  const w = writers.ip as NetlinkNftBackend;
  const cases: NftCommand[][] = [
    [
      { op: "add chain", chain: "filter-a" },
      { op: "add rule", chain: "filter-a", rule: "meta skuid 0 accept" },
    ],
    [{ op: "add chain", chain: "x".repeat(256) }],
    [{ op: "add chain", chain: "filter-b", base: { type: "filter", hook: "input", priority: 0 } }],
    [
      { op: "add set", set: "s", key },
      { op: "add element", set: "s", key, elements: ["fd00::1"] },
    ],
    [
      { op: "add chain", chain: "filter-c" },
      { op: "add rule", chain: "filter-c", rule: `accept comment "${"c".repeat(129)}"` },
    ],
  ];
  for (const c of cases) {
    const r = await w.write(c, onlyS);
    assert.ok("unsupported" in r, JSON.stringify(c).slice(0, 200));
  }
  assert.equal(nft(viaNetlink, ["list", "table", "ip", "calico"]), "table ip calico {\n}\n");
});
