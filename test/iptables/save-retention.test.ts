// The kernel re-read (FELIX_IPTABLESREFRESHINTERVAL, every 180 s by default)
// must not keep the iptables-save and ipset save output alive: at the large
// preset they are 32 and 3.3 MB of text, and the parsed views held them (a V8
// slice per rule, chain name, set name and long member) until the next read:
// 59 and 7.5 MB of live heap more after every refresh.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { IptablesBackend } from "../../iptables/backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { IpsetSyncer } from "../../iptables/ipset-syncer.js";
import { parseSave } from "../../iptables/save-parser.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { type FamilyTables, type RenderedChain, TABLE_NAMES, type TableState, tableState } from "../../model/tables.js";
import { liveHeap } from "../helpers/live-heap.js";

const CHAINS = 2_000;
const RULES = 10;

/** A 16-character hash as our rules carry (`cali:<hash>`). */
const hashOf = (c: number, r: number, changed = false) =>
  `${changed ? "c" : "h"}${String(c).padStart(7, "0")}r${String(r).padStart(7, "0")}`;

function ourChain(c: number, changed = false): RenderedChain {
  const name = `cali-pi-${String(c).padStart(20, "0")}`;
  const rules = Array.from({ length: RULES }, (_, r) => {
    const hash = hashOf(c, r, changed);
    const set = `cali40s:${changed ? "y" : "x".repeat(20)}`;
    const text = `-m comment --comment "cali:${hash}" -m set --match-set ${set} src -j MARK --set-xmark 0x10000/0x10000`;
    return { text, hash };
  });
  return { name, rules };
}

/** Desired filter chains; a hook in FORWARD. */
function desired(changed = -1): FamilyTables {
  const chains = Array.from({ length: CHAINS }, (_, c) => ourChain(c, c === changed));
  const hook = ourChain(CHAINS).rules[0];
  const filter = tableState(chains, { FORWARD: { insert: [hook], append: [] } });
  const empty = tableState();
  return Object.fromEntries(TABLE_NAMES.map((t) => [t, t === "filter" ? filter : empty])) as Record<
    (typeof TABLE_NAMES)[number],
    TableState
  >;
}

/**
 * A kernel with a foreign chain that holds the desired tables once restored
 * to, as iptables-save prints it: a new text per read.
 */
class SavingKernel implements IptablesBackend {
  readonly family = 4;
  readonly mode = "legacy";
  constructor(
    private readonly tables: FamilyTables,
    private holding = false,
  ) {}
  async save(): Promise<string> {
    const out: string[] = [];
    for (const name of TABLE_NAMES) {
      out.push(`*${name}`, ":FORWARD ACCEPT [0:0]", ":KUBE-FIREWALL-LONG-NAME - [0:0]");
      const t = this.holding ? this.tables[name] : tableState();
      for (const [b, h] of Object.entries(t.hooks)) for (const r of h.insert) out.push(`-A ${b} ${r.text}`);
      out.push(`-A FORWARD -m comment --comment "kubernetes forwarding rules of someone else" -j ACCEPT`);
      out.push(`-A KUBE-FIREWALL-LONG-NAME -m comment --comment "a foreign rule long enough to be a slice" -j DROP`);
      for (const shard of Object.values(t.shards))
        for (const c of Object.values(shard)) {
          out.push(`:${c.name} - [0:0]`);
          for (const r of c.rules) out.push(`-A ${c.name} ${r.text}`);
        }
      out.push("COMMIT");
    }
    return `${out.join("\n")}\n`;
  }
  readonly restores: string[] = [];
  async restore(input: string): Promise<void> {
    this.restores.push(input);
    this.holding = true;
  }
}

describe("TableSyncer: a kernel read does not keep the save output", () => {
  test("after a refresh the live heap is what it was before it (the text is several MB)", async () => {
    const want = desired();
    const kernel = new SavingKernel(want);
    const s = new TableSyncer(kernel);
    const first = await s.apply(want);
    assert.equal(first.chainsWritten, CHAINS, "the kernel is programmed");
    const textBytes = (await kernel.save()).length;
    assert.ok(textBytes > 3_000_000, `${textBytes} bytes of save output`);
    kernel.restores.length = 0;
    const before = liveHeap();
    for (let i = 0; i < 3; i++) {
      s.invalidate();
      const r = await s.apply(want);
      assert.equal(r.linesWritten, 0);
    }
    const grown = liveHeap() - before;
    // Without the copies and sharing: the last text and a parsed rule per line, ~1.6 times the text.
    assert.ok(grown < textBytes / 10, `${grown} bytes more live after three reads of ${textBytes} bytes`);
  });

  test("the view stays right: a later change writes only its chain; foreign rules keep their text", async () => {
    const kernel = new SavingKernel(desired(), true);
    const s = new TableSyncer(kernel);
    await s.apply(desired());
    s.invalidate();
    await s.apply(desired());
    assert.equal(kernel.restores.length, 0);
    const r = await s.apply(desired(7));
    assert.ok(r.linesWritten > 0);
    assert.equal(kernel.restores.length, 1);
    const input = kernel.restores[0];
    const touched = new Set([...input.matchAll(/^(?:-[AIDR]|:)\s*(\S+)/gm)].map((m) => m[1]));
    assert.deepEqual([...touched], [ourChain(7).name]);
  });

  test("parseSave: chain names and the rules of built-in and foreign chains equal the text's", async () => {
    const text = await new SavingKernel(desired(), true).save();
    const filter = parseSave(text).get("filter")!;
    assert.deepEqual(
      filter.chains.get("FORWARD")?.rules.map((r) => [r.text, r.hash]),
      [
        [ourChain(CHAINS).rules[0].text, hashOf(CHAINS, 0)],
        [`-m comment --comment "kubernetes forwarding rules of someone else" -j ACCEPT`, undefined],
      ],
    );
    assert.equal(
      filter.chains.get("KUBE-FIREWALL-LONG-NAME")?.rules[0].text,
      `-m comment --comment "a foreign rule long enough to be a slice" -j DROP`,
    );
    assert.deepEqual(filter.chains.get(ourChain(3).name)?.rules, ourChain(3).rules);
  });
});

describe("IpsetSyncer: a kernel read does not keep the save output", () => {
  const sets = Array.from({ length: 400 }, (_, i) => ({
    name: `cali40s:set-number-${String(i).padStart(12, "0")}`,
    family: 4 as const,
    type: "hash:net" as const,
    members: new Set(Array.from({ length: 100 }, (_, m) => `10.${i % 200}.${m}.${100 + (i % 100)}/32`)),
  }));

  test("after a refresh the live heap is what it was before it", async () => {
    const kernel = new FakeIpsetBackend();
    const s = new IpsetSyncer(kernel);
    await s.addOrUpdate(sets);
    const textBytes = (await kernel.save()).length;
    assert.ok(textBytes > 1_500_000, `${textBytes} bytes of save output`);
    const before = liveHeap();
    for (let i = 0; i < 3; i++) {
      s.invalidate();
      assert.equal((await s.addOrUpdate(sets)).bytesWritten, 0);
    }
    const grown = liveHeap() - before;
    assert.ok(grown < textBytes / 10, `${grown} bytes more live after three reads of ${textBytes} bytes`);
  });

  test("the view stays right: a later change writes only its members", async () => {
    const kernel = new FakeIpsetBackend();
    const s = new IpsetSyncer(kernel);
    await s.addOrUpdate(sets);
    s.invalidate();
    await s.addOrUpdate(sets);
    const changed = sets.map((x, i) => (i === 5 ? { ...x, members: new Set([...x.members, "10.99.0.1/32"]) } : x));
    await s.addOrUpdate(changed);
    assert.equal(kernel.restores.at(-1), `add ${sets[5].name} 10.99.0.1/32\n`);
  });
});
