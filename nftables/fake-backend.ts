// An in-memory nftables for unit tests, enforcing what the kernel and nft
// refuse (test/nftables/fake-vs-real.test.ts runs the same scripts on both):
// a script is one transaction (any refused command changes nothing); a rule
// may only jump/goto an existing chain and use an existing @set; a chain or
// set still referenced by a rule cannot be deleted; a set cannot be re-added
// with another type; an element must fit the set's type, must not overlap
// another one in an interval set, and must exist to be deleted; a base
// chain's hook cannot change; a jump may not close a loop that a base chain
// reaches. Both script forms are read: the flat commands
// the syncer writes and the nested `table … { … }` text of a cold load.

import { type NftBackend, NftError, type NftFamily } from "./backend.js";
import {
  checkElement,
  checkMapElement,
  type FakeSet,
  overlaps,
  toJsonElement,
  toJsonMapElement,
} from "./fake-elements.js";
import { parseScript, type ScriptCommand } from "./fake-script.js";
import { NFT_TABLE, NFT_TABLES } from "./names.js";

interface FakeChain {
  base?: { type: string; hook: string; priority: number; policy: string };
  rules: { handle: number; text: string }[];
}

interface FakeTable {
  family: string;
  name: string;
  chains: Map<string, FakeChain>;
  sets: Map<string, FakeSet>;
}

const JUMP_RE = /\b(?:jump|goto)\s+([A-Za-z0-9_./-]+)/g;
const SET_RE = /@([A-Za-z0-9_./-]+)/g;
const isMap = (s: FakeSet) => s.type.endsWith(" : verdict");

/** A rule's text without its quoted strings (comments may hold anything). */
function unquoted(text: string): string {
  return text.replace(/"[^"]*"/g, '""');
}

function clone(tables: Map<string, FakeTable>): Map<string, FakeTable> {
  const out = new Map<string, FakeTable>();
  for (const [k, t] of tables) {
    const chains = new Map([...t.chains].map(([n, c]) => [n, { base: c.base && { ...c.base }, rules: [...c.rules] }]));
    const sets = new Map([...t.sets].map(([n, s]) => [n, { ...s, elements: new Set(s.elements) }]));
    out.set(k, { family: t.family, name: t.name, chains, sets });
  }
  return out;
}

export class FakeNftBackend implements NftBackend {
  /** Every table of the fake kernel, keyed `<family> <name>` (several backends may share them). */
  tables: Map<string, FakeTable>;
  /** Every script received, for assertions about what was written. */
  readonly transactions: string[] = [];
  /** Refuse the next N transactions (to exercise retries). */
  failNext = 0;
  /** Fail the next N listings (as nft does on a set it cannot decode). */
  failListNext = 0;
  private handle = 1;

  constructor(
    readonly family: NftFamily = "ip",
    shared?: FakeNftBackend,
  ) {
    this.tables = shared ? shared.tables : new Map();
    if (shared) this.handle = 1_000_000;
  }

  async transact(script: string): Promise<void> {
    this.transactions.push(script);
    if (this.failNext > 0) {
      this.failNext--;
      throw new NftError("injected failure");
    }
    const work = clone(this.tables);
    for (const cmd of parseScript(script)) {
      try {
        this.apply(work, cmd);
      } catch (e) {
        throw new NftError(`line ${cmd.line}: ${(e as Error).message}`, cmd.line, script.split("\n")[cmd.line - 1]);
      }
    }
    this.tables = work;
  }

  private apply(tables: Map<string, FakeTable>, c: ScriptCommand): void {
    const key = `${c.family} ${c.table}`;
    if (c.op === "add table") {
      if (!tables.has(key)) tables.set(key, { family: c.family, name: c.table, chains: new Map(), sets: new Map() });
      return;
    }
    const t = tables.get(key);
    if (!t) throw new Error(`No such file or directory: table ${key}`);
    switch (c.op) {
      case "delete table":
        tables.delete(key);
        return;
      case "flush table":
        for (const ch of t.chains.values()) ch.rules = [];
        for (const s of t.sets.values()) s.elements.clear();
        return;
      case "add set": {
        const have = t.sets.get(c.name);
        if (have && (have.type !== c.type || have.interval !== c.interval))
          throw new Error(`File exists: set ${c.name}`);
        const timeout = c.timeout !== undefined ? { timeout: c.timeout } : {};
        // As the kernel does, re-adding a timeout set with another timeout changes it in place.
        if (have && have.timeout !== undefined && c.timeout !== undefined) have.timeout = c.timeout;
        if (!have) t.sets.set(c.name, { type: c.type, interval: c.interval, elements: new Set(), ...timeout });
        return;
      }
      case "delete set":
        if (!t.sets.has(c.name)) throw new Error(`No such file or directory: set ${c.name}`);
        if (referenced(t, SET_RE, c.name)) throw new Error(`Device or resource busy: set ${c.name} is in use`);
        t.sets.delete(c.name);
        return;
      case "add element":
      case "delete element": {
        const s = t.sets.get(c.name);
        if (!s) throw new Error(`No such file or directory: set ${c.name}`);
        if (isMap(s)) {
          mapElements(t, s, c.op, c.elements, c.family);
          return;
        }
        for (const raw of c.elements) {
          const e = checkElement(raw, s, c.family);
          if (c.op === "delete element") {
            if (!s.elements.delete(e)) throw new Error(`No such file or directory: element ${e}`);
          } else if (!s.elements.has(e)) {
            const other = overlaps(s, e, c.family);
            if (other) throw new Error(`interval overlaps with an existing one: ${e} and ${other}`);
            s.elements.add(e);
          }
        }
        return;
      }
      case "add chain": {
        const have = t.chains.get(c.name);
        if (!have) {
          t.chains.set(c.name, { base: c.base && { ...c.base }, rules: [] });
          return;
        }
        if (!c.base) return;
        const b = have.base;
        if (!b || b.type !== c.base.type || b.hook !== c.base.hook || b.priority !== c.base.priority) {
          throw new Error(`Operation not supported: chain ${c.name} cannot change its hook`);
        }
        b.policy = c.base.policy;
        return;
      }
      case "flush chain":
      case "delete chain": {
        const ch = t.chains.get(c.name);
        if (!ch) throw new Error(`No such file or directory: chain ${c.name}`);
        if (c.op === "flush chain") ch.rules = [];
        else if (referenced(t, JUMP_RE, c.name) || mapReferenced(t, c.name))
          throw new Error(`Device or resource busy: chain ${c.name}`);
        else t.chains.delete(c.name);
        return;
      }
      case "add rule": {
        const ch = t.chains.get(c.name);
        if (!ch) throw new Error(`No such file or directory: chain ${c.name}`);
        const text = unquoted(c.text);
        for (const [, target] of text.matchAll(JUMP_RE))
          if (!t.chains.has(target)) throw new Error(`No such file or directory: chain ${target}`);
        for (const [, set] of text.matchAll(SET_RE))
          if (!t.sets.has(set)) throw new Error(`No such file or directory: set ${set}`);
        ch.rules.push({ handle: this.handle++, text: c.text });
        if (/\b(?:jump|goto)\s/.test(text) && loops(t))
          throw new Error("Too many links: a jump loop a base chain reaches");
        return;
      }
      case "delete rule": {
        const ch = t.chains.get(c.name);
        const at = ch?.rules.findIndex((r) => r.handle === c.handle) ?? -1;
        if (!ch || at < 0) throw new Error(`No such file or directory: rule handle ${c.handle}`);
        ch.rules.splice(at, 1);
        return;
      }
    }
  }

  async list(table = NFT_TABLE): Promise<string | undefined> {
    if (this.failListNext > 0) {
      this.failListNext--;
      throw new NftError("injected listing failure");
    }
    const t = this.tables.get(`${this.family} ${table}`);
    if (!t) return undefined;
    const f = this.family;
    const items: unknown[] = [{ metainfo: { json_schema_version: 1 } }, { table: { family: f, name: table } }];
    const typeJson = (type: string) => (type.includes(" . ") ? type.split(" . ") : type);
    for (const [name, s] of t.sets) {
      if (isMap(s)) {
        const type = typeJson(s.type.slice(0, -" : verdict".length));
        const elem = [...s.elements].map(toJsonMapElement);
        items.push({ map: { family: f, name, table, type, map: "verdict", elem } });
        continue;
      }
      const elem = [...s.elements].map(toJsonElement);
      const flags = s.interval ? ["interval"] : s.timeout !== undefined ? ["timeout"] : [];
      const timeout = s.timeout !== undefined ? { timeout: s.timeout } : {};
      items.push({ set: { family: f, name, table, type: typeJson(s.type), flags, ...timeout, elem } });
    }
    for (const [name, c] of t.chains) {
      const b = c.base;
      const hook = b ? { type: b.type, hook: b.hook, prio: b.priority, policy: b.policy } : {};
      items.push({ chain: { family: f, table, name, ...hook } });
    }
    for (const [name, c] of t.chains)
      for (const r of c.rules) {
        const comment = /comment "([^"]*)"\s*$/.exec(r.text)?.[1];
        items.push({ rule: { family: f, table, chain: name, handle: r.handle, comment, expr: [] } });
      }
    return JSON.stringify({ nftables: items });
  }

  /** The rules of a chain in one of our tables, as texts (for assertions). */
  rules(chain: string): string[] | undefined {
    for (const name of NFT_TABLES) {
      const c = this.tables.get(`${this.family} ${name}`)?.chains.get(chain);
      if (c) return c.rules.map((r) => r.text);
    }
    return undefined;
  }
}

/** Whether the jumps from some base chain lead around in a circle (the kernel refuses that: ELOOP). */
function loops(t: FakeTable): boolean {
  const state = new Map<string, "open" | "done">();
  const visit = (name: string): boolean => {
    if (state.get(name) === "done") return false;
    if (state.get(name) === "open") return true;
    state.set(name, "open");
    for (const r of t.chains.get(name)?.rules ?? [])
      for (const [, target] of unquoted(r.text).matchAll(JUMP_RE)) if (visit(target)) return true;
    state.set(name, "done");
    return false;
  };
  for (const [name, c] of t.chains) if (c.base && visit(name)) return true;
  return false;
}

/** Adds or deletes map elements: a verdict's chain must exist; a delete names the key. */
function mapElements(t: FakeTable, s: FakeSet, op: string, raws: readonly string[], family: string): void {
  const byKey = new Map([...s.elements].map((e) => [e.slice(0, e.indexOf(" : ")), e]));
  for (const raw of raws) {
    const { key, verdict } = checkMapElement(raw, s, family);
    const have = byKey.get(key);
    if (op === "delete element") {
      if (!have) throw new Error(`No such file or directory: element ${key}`);
      s.elements.delete(have);
      byKey.delete(key);
      continue;
    }
    if (verdict === undefined) throw new Error(`map element ${key} without a verdict`);
    const target = /^(?:goto|jump) (\S+)$/.exec(verdict)?.[1];
    if (target !== undefined && !t.chains.has(target)) throw new Error(`No such file or directory: chain ${target}`);
    if (have && have !== `${key} : ${verdict}`) throw new Error(`File exists: element ${key}`);
    s.elements.add(`${key} : ${verdict}`);
    byKey.set(key, `${key} : ${verdict}`);
  }
}

/** Whether a map element goes to chain `name`. */
function mapReferenced(t: FakeTable, name: string): boolean {
  for (const s of t.sets.values()) {
    if (!isMap(s)) continue;
    for (const e of s.elements) if (/ : (?:goto|jump) (\S+)$/.exec(e)?.[1] === name) return true;
  }
  return false;
}

function referenced(t: FakeTable, re: RegExp, name: string): boolean {
  for (const c of t.chains.values())
    for (const r of c.rules) for (const [, n] of unquoted(r.text).matchAll(re)) if (n === name) return true;
  return false;
}
