// IP sets filled while the rules that use them load (IpsetSyncer.begin +
// TableSyncer.apply(…, setsReady)), on the real tools in a throwaway
// namespace, legacy and nft: while the members are being written, a table
// without set matches commits and the table whose rule matches on the set does
// not; it commits once the members are in; and when their write fails it never
// commits, and the apply fails with the IP set error.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { RestoreError } from "../../iptables/backend.js";
import { type HoldAt, run } from "../../iptables/exec.js";
import { type IpsetBackend, IpsetError } from "../../iptables/ipset-backend.js";
import { FILL_BEHIND_LINES, IpsetSyncer } from "../../iptables/ipset-syncer.js";
import { renderChain } from "../../iptables/render.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import type { IpSetState } from "../../model/ipset.js";
import { Actions, match, NO_MATCH, rule } from "../../model/rule.js";
import { type FamilyTables, tableState } from "../../model/tables.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";

/** `ipset restore` in the namespace; a member write (the fill) waits for `gate` when one is set. */
class GatedIpsets implements IpsetBackend {
  gate: Promise<void> | undefined;
  constructor(readonly ns: string) {}
  async save() {
    return (await run("ip", ["netns", "exec", this.ns, "ipset", "save"])).stdout;
  }
  async restore(input: string) {
    if (this.gate && input.startsWith("add ")) await this.gate;
    const r = await run("ip", ["netns", "exec", this.ns, "ipset", "restore", "-exist"], input);
    if (r.code !== 0) throw new IpsetError(`ipset restore failed: ${r.stderr.trim()}`);
  }
}

function iptables(ns: string, mode: "legacy" | "nft") {
  const exec = (args: string[], parts?: readonly string[], hold?: HoldAt) =>
    run("ip", ["netns", "exec", ns, ...args], parts, hold);
  return {
    family: 4 as const,
    mode,
    async save() {
      return (await exec([`iptables-${mode}-save`])).stdout;
    },
    restore(input: string) {
      return this.restoreParts([input]);
    },
    async restoreParts(parts: readonly string[], hold?: HoldAt) {
      const r = await exec([`iptables-${mode}-restore`, "--noflush"], parts, hold);
      if (r.code !== 0) throw new RestoreError(r.stderr);
    },
    async has(table: string, chain: string) {
      return (await exec([`iptables-${mode}-save`, "-t", table])).stdout.includes(`:${chain} `);
    },
  };
}

const set = (name: string, members: string[]): IpSetState => ({
  name,
  family: 4,
  type: "hash:net",
  members: new Set(members),
});

function tables(tag: string, setName: string): FamilyTables {
  return {
    raw: tableState([renderChain({ name: `cali-raw-${tag}`, rules: [rule(NO_MATCH, Actions.accept)] })]),
    mangle: tableState(),
    nat: tableState(),
    filter: tableState([
      renderChain({ name: `cali-fw-${tag}`, rules: [rule(match().ipSet(setName, "src").build(), Actions.accept)] }),
    ]),
  };
}

async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const mode of ["legacy", "nft"] as const) {
  const missing = ["ipset", `iptables-${mode}-restore`].find(
    (t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0,
  );
  const skip = netnsSkipReason() ?? (missing && `needs ${missing}`);
  test(`${mode}: a table that uses a set commits only once the set's members are in`, {
    ...skipIf(skip),
    timeout: 120_000,
  }, async () => {
    const ns = createNetns("fxgate");
    try {
      const ipsets = new GatedIpsets(ns);
      const ipt = iptables(ns, mode);
      const sets = new IpsetSyncer(ipsets);
      const syncer = new TableSyncer(ipt, { retries: 0 });
      const members = async (name: string) =>
        (await ipsets.save()).split("\n").filter((l) => l.startsWith(`add ${name} `)).length;

      let release = () => {};
      ipsets.gate = new Promise((r) => (release = r));
      // Enough members to be written behind the rules (a small write goes whole before them).
      const many = Array.from({ length: FILL_BEHIND_LINES + 1 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
      const fill = await sets.begin([set("cali40s:a", many)]);
      assert.equal(fill.pending, true);
      assert.match(await ipsets.save(), /create cali40s:a hash:net/, "the set exists before the rules load");
      const applying = syncer.apply(tables("a", "cali40s:a"), fill.done);
      await until(() => ipt.has("raw", "cali-raw-a"), "the table without set matches committed");
      assert.equal(await ipt.has("filter", "cali-fw-a"), false, "no rule uses the set before its members are in");
      assert.equal(await members("cali40s:a"), 0);
      release();
      await applying;
      assert.equal(await ipt.has("filter", "cali-fw-a"), true);
      assert.equal(await members("cali40s:a"), many.length);

      ipsets.gate = Promise.reject(new IpsetError("ipset restore failed: injected"));
      ipsets.gate.catch(() => {});
      const failing = await sets.begin([set("cali40s:b", many)]);
      await assert.rejects(syncer.apply(tables("b", "cali40s:b"), failing.done), /injected/);
      await assert.rejects(failing.done, /injected/);
      assert.equal(await ipt.has("filter", "cali-fw-b"), false, "never committed when the members failed");
      assert.equal(await ipt.has("filter", "cali-fw-a"), true, "what was there stays");

      ipsets.gate = undefined;
      const small = await sets.begin([set("cali40s:c", ["10.0.0.3"])]);
      assert.equal(small.pending, false, "a small write is done before begin() returns");
      assert.equal(await members("cali40s:c"), 1);
    } finally {
      deleteNetns(ns);
    }
  });
}
