// One `nft list ruleset` cut into its tables, for the kernel tests that read
// back every table of ours in both families: one nft process where a listing
// per table took nine per family (the nat tables are sharded). A table's cut
// is what `nft list table <family> <name>` prints for it — the text form
// (`nft -s list table`: the same lines; the ruleset listing only leaves out
// the blank line between tables) or the JSON form (the same objects, each
// naming its family and table, so parseNftJson reads a cut as it reads a
// table's own listing). A table absent from the cut map is not in the kernel.
// ListedNftBackend serves a syncer's reads of every table from one listing.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { ExecNftBackend, type NftBackend, type NftFamily } from "../../nftables/backend.js";
import { NFT_TABLE, NFT_TABLES } from "../../nftables/names.js";
import { parseNftJson } from "../../nftables/view.js";
import { plainView } from "./golden-state.js";

/** `nft <args>` through `prefix` (nsenter into a namespace); stdout, failing the test on a non-zero exit. */
export function nftOut(prefix: readonly string[], args: readonly string[]): string {
  const [cmd, ...rest] = [...prefix, "nft", ...args];
  const r = spawnSync(cmd!, rest, { encoding: "utf8", maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, `nft ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** A text ruleset listing by table (`<family> <name>` → the table's lines, as `nft list table` prints them). */
export function textTables(listing: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const block of listing.split(/^(?=table )/m)) {
    const m = /^table (\S+) (\S+) \{\n/.exec(block);
    if (m) out.set(`${m[1]} ${m[2]}`, block);
    else assert.equal(block.trim(), "", `nft list ruleset: text outside a table: ${block}`);
  }
  return out;
}

type Json = Record<string, Record<string, unknown>>;

/** A `nft -j list ruleset` listing by table (`<family> <name>` → a JSON document as `nft -j list table` prints it). */
export function jsonTables(listing: string): Map<string, string> {
  const items = (JSON.parse(listing) as { nftables?: Json[] }).nftables ?? [];
  const meta = items.filter((i) => i.metainfo);
  const byTable = new Map<string, Json[]>();
  for (const item of items) {
    if (item.metainfo) continue;
    const [kind] = Object.keys(item);
    const o = item[kind!]!;
    // A table names itself by `name`; what it holds names it by `table`.
    const key = `${String(o.family)} ${String(kind === "table" ? o.name : o.table)}`;
    if (kind === "table") {
      assert.ok(!byTable.has(key), `nft -j list ruleset: table ${key} twice`);
      byTable.set(key, []);
    }
    const list = byTable.get(key);
    assert.ok(list, `nft -j list ruleset: a ${kind} of ${key} before its table`);
    list.push(item);
  }
  return new Map([...byTable].map(([k, v]) => [k, JSON.stringify({ nftables: [...meta, ...v] })]));
}

/**
 * Each of our tables of `family` as readOurTables gives them (golden-state.ts), from a cut listing
 * (jsonTables) of the family's ruleset; a table there that is not ours fails the test.
 */
export function ourTables(listed: ReadonlyMap<string, string>, family: NftFamily) {
  const ours = new Set(NFT_TABLES.map((n) => `${family} ${n}`));
  for (const t of listed.keys()) assert.ok(ours.has(t), `a table not ours: ${t}`);
  const out: Record<string, ReturnType<typeof plainView>> = {};
  for (const t of NFT_TABLES) {
    const j = listed.get(`${family} ${t}`);
    out[t] = plainView(j === undefined ? undefined : parseNftJson(j));
  }
  return out;
}

/**
 * The nft backend of a namespace whose list() answers from one `nft -j list ruleset <family>`
 * where ExecNftBackend runs nft once per table; transact() runs `nft -f` as ExecNftBackend does.
 * The listing is taken when a table is read and none is held, or by refresh(); a transaction
 * drops it, so a read after one (a syncer's first apply, its retry after a refused transaction)
 * sees the kernel as it is then.
 */
export class ListedNftBackend implements NftBackend {
  private readonly exec: ExecNftBackend;
  private listed: Map<string, string> | undefined;

  constructor(
    readonly family: NftFamily,
    private readonly prefix: readonly string[],
  ) {
    this.exec = new ExecNftBackend(family, prefix);
  }

  /** Lists the family's ruleset now, cut by table (jsonTables). */
  refresh(): ReadonlyMap<string, string> {
    this.listed = jsonTables(nftOut(this.prefix, ["-j", "list", "ruleset", this.family]));
    return this.listed;
  }

  transact(script: string): Promise<void> {
    this.listed = undefined;
    return this.exec.transact(script);
  }

  async list(table = NFT_TABLE): Promise<string | undefined> {
    return (this.listed ?? this.refresh()).get(`${this.family} ${table}`);
  }
}
