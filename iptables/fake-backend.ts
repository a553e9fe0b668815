// An in-memory kernel for unit tests, enforcing iptables-restore --noflush
// semantics the way kube-proxy's fake does: a mentioned user chain is
// flushed, each table commits atomically, and a commit fails (changing
// nothing) when a rule jumps to a missing chain or a deleted chain is still
// referenced.

import type { IptablesBackend, IptablesMode } from "./backend.js";
import { RestoreError } from "./backend.js";
import { BUILTIN_CHAINS, TABLE_NAMES, type TableName } from "./tables.js";

type FakeTable = Map<string, { policy: string; rules: string[] }>;

const TARGET_RE = /(?:^|\s)-[jg] (\S+)/;

function freshTable(name: string): FakeTable {
  const t: FakeTable = new Map();
  for (const c of BUILTIN_CHAINS[name as TableName] ?? []) t.set(c, { policy: "ACCEPT", rules: [] });
  return t;
}

function cloneTable(t: FakeTable): FakeTable {
  return new Map([...t].map(([k, v]) => [k, { policy: v.policy, rules: [...v.rules] }]));
}

export class FakeIptablesBackend implements IptablesBackend {
  readonly tables = new Map<string, FakeTable>();
  /** Every restore input received, for assertions about what was written. */
  readonly restores: string[] = [];
  /** Fail the next N restores (to exercise retries). */
  failNext = 0;

  constructor(
    readonly family: 4 | 6 = 4,
    readonly mode: IptablesMode = "legacy",
  ) {
    for (const n of TABLE_NAMES) this.tables.set(n, freshTable(n));
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
    const staged = new Map<string, FakeTable>();
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
        staged.set(tableName, table);
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
          c.rules.push(ruleText);
          break;
        case "-I": {
          if (!c) throw fail(`no chain ${chain}`);
          const pos = /^\d+$/.test(rest[0] ?? "") ? Number(rest[0]) : 1;
          const text = /^\d+$/.test(rest[0] ?? "") ? rest.slice(1).join(" ") : ruleText;
          if (pos < 1 || pos > c.rules.length + 1) throw fail(`index ${pos} out of range`);
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
          table.delete(chain);
          break;
        default:
          throw fail(`unknown command ${op}`);
      }
    }
    if (table) throw new RestoreError(`table ${tableName} not committed`);
    for (const [n, t] of staged) this.tables.set(n, t);
  }
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
