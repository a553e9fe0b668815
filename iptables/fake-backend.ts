// An in-memory kernel for unit tests, enforcing iptables-restore --noflush
// semantics the way kube-proxy's fake does, and what the real tools refuse
// (test/iptables/fake-vs-real.test.ts checks the two agree): a mentioned user
// chain is flushed; each table commits at its own COMMIT (legacy and nft
// alike: an earlier table stays committed when a later one fails); a commit
// fails, changing nothing in its table, when a rule jumps to a missing chain;
// `-X` refuses a chain that still has rules or is still jumped to; a rule's
// `--match-set` must name an existing set of the table's family (the sets of
// the linked fake ipset, which then counts the rule as a reference).

import { BUILTIN_CHAINS, TABLE_NAMES, type TableName } from "../model/tables.js";
import type { IptablesBackend, IptablesMode } from "./backend.js";
import { RestoreError } from "./backend.js";
import type { FakeIpsetBackend, IpsetUser } from "./ipset-backend.js";

type FakeTable = Map<string, { policy: string; rules: string[] }>;

const TARGET_RE = /(?:^|\s)-[jg] (\S+)/;
const MATCH_SET_RE = /--match-set (\S+)/g;

function freshTable(name: string): FakeTable {
  const t: FakeTable = new Map();
  for (const c of BUILTIN_CHAINS[name as TableName] ?? []) t.set(c, { policy: "ACCEPT", rules: [] });
  return t;
}

function cloneTable(t: FakeTable): FakeTable {
  return new Map([...t].map(([k, v]) => [k, { policy: v.policy, rules: [...v.rules] }]));
}

export class FakeIptablesBackend implements IptablesBackend, IpsetUser {
  readonly tables = new Map<string, FakeTable>();
  /** Every restore input received, for assertions about what was written. */
  readonly restores: string[] = [];
  /** Fail the next N restores (to exercise retries). */
  failNext = 0;

  /**
   * `ipsets`: the fake kernel's IP sets; without it no set exists, so any
   * `--match-set` is refused, as on a kernel with no sets.
   */
  constructor(
    readonly family: 4 | 6 = 4,
    readonly mode: IptablesMode = "legacy",
    readonly ipsets?: FakeIpsetBackend,
  ) {
    for (const n of TABLE_NAMES) this.tables.set(n, freshTable(n));
    ipsets?.users.push(this);
  }

  /** The sets that committed rules reference: the kernel will not destroy them. */
  referencedSets(): ReadonlySet<string> {
    const out = new Set<string>();
    for (const t of this.tables.values())
      for (const c of t.values()) for (const r of c.rules) for (const m of r.matchAll(MATCH_SET_RE)) out.add(m[1]);
    return out;
  }

  private checkSets(rule: string, fail: (m: string) => Error): void {
    for (const [, name] of rule.matchAll(MATCH_SET_RE)) {
      const header = this.ipsets?.header(name);
      if (header === undefined) throw fail(`Set ${name} doesn't exist.`);
      const v6 = / family inet6 /.test(` ${header} `);
      if (v6 !== (this.family === 6))
        throw fail(`The protocol family of set ${name} is IPv${v6 ? 6 : 4}, which is not applicable.`);
    }
  }

  async save(): Promise<string> {
    const out: string[] = [];
    for (const [name, t] of this.tables) {
      out.push(`*${name}`);
      for (const [c, v] of t) out.push(`:${c} ${v.policy} [0:0]`);
      for (const [c, v] of t) for (const r of v.rules) out.push(`-A ${c} ${r}`);
      out.push("COMMIT");
    }
    return `${out.join("\n")}\n`;
  }

  async restore(input: string): Promise<void> {
    this.restores.push(input);
    if (this.failNext > 0) {
      this.failNext--;
      throw new RestoreError("injected failure");
    }
    let table: FakeTable | undefined;
    let tableName = "";
    const lines = input.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      const fail = (msg: string) => new RestoreError(`line ${i + 1}: ${msg}`, i + 1, lines[i]);
      if (line === "" || line.startsWith("#")) continue;
      if (line.startsWith("*")) {
        tableName = line.slice(1);
        table = cloneTable(this.tables.get(tableName) ?? freshTable(tableName));
        continue;
      }
      if (!table) throw fail("rule outside a table");
      if (line === "COMMIT") {
        validate(table, (m) => fail(m));
        this.tables.set(tableName, table);
        table = undefined;
        continue;
      }
      const [op, chain, ...rest] = line.split(" ");
      const ruleText = rest.join(" ");
      if (line.startsWith(":")) {
        const [name, policy] = line.slice(1).split(" ");
        const existing = table.get(name);
        if (existing && policy !== "-") existing.policy = policy;
        else table.set(name, { policy, rules: [] });
        continue;
      }
      const c = table.get(chain);
      switch (op) {
        case "-N":
          if (c) throw fail(`chain ${chain} already exists`);
          table.set(chain, { policy: "-", rules: [] });
          break;
        case "-A":
          if (!c) throw fail(`no chain ${chain}`);
          this.checkSets(ruleText, fail);
          c.rules.push(ruleText);
          break;
        case "-I": {
          if (!c) throw fail(`no chain ${chain}`);
          const pos = /^\d+$/.test(rest[0] ?? "") ? Number(rest[0]) : 1;
          const text = /^\d+$/.test(rest[0] ?? "") ? rest.slice(1).join(" ") : ruleText;
          if (pos < 1 || pos > c.rules.length + 1) throw fail(`index ${pos} out of range`);
          this.checkSets(text, fail);
          c.rules.splice(pos - 1, 0, text);
          break;
        }
        case "-D": {
          if (!c) throw fail(`no chain ${chain}`);
          const idx = /^\d+$/.test(ruleText) ? Number(ruleText) - 1 : c.rules.indexOf(ruleText);
          if (idx < 0 || idx >= c.rules.length) throw fail(`no such rule in ${chain}`);
          c.rules.splice(idx, 1);
          break;
        }
        case "-F":
          if (!c) throw fail(`no chain ${chain}`);
          c.rules = [];
          break;
        case "-X":
          if (!c) throw fail(`no chain ${chain}`);
          if (c.policy !== "-") throw fail(`cannot delete built-in chain ${chain}`);
          if (c.rules.length > 0) throw fail(`chain ${chain} is not empty (Directory not empty)`);
          if (jumpsTo(table, chain)) throw fail(`chain ${chain} is still referenced (Too many links)`);
          table.delete(chain);
          break;
        default:
          throw fail(`unknown command ${op}`);
      }
    }
    if (table) throw new RestoreError(`table ${tableName} not committed`);
  }
}

function jumpsTo(t: FakeTable, target: string): boolean {
  for (const c of t.values()) for (const r of c.rules) if (TARGET_RE.exec(r)?.[1] === target) return true;
  return false;
}

function validate(t: FakeTable, fail: (m: string) => Error): void {
  for (const [name, c] of t) {
    for (const r of c.rules) {
      const target = TARGET_RE.exec(r)?.[1];
      if (target && !/^[A-Z]+$/.test(target) && !t.has(target)) {
        throw fail(`rule in ${name} jumps to missing chain ${target}`);
      }
    }
  }
}
