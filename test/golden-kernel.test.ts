// Kernel validation of the golden files (test/golden/<case>/): the expected
// IP sets and iptables rules must be accepted by the real tools, and what
// iptables-save prints for the rules must be exactly what we render.
//
// For every case, in a throwaway network namespace:
//   - `ipset restore` the expected sets (v4 and v6), and check `ipset save`
//     lists the same members;
//   - `iptables-legacy-restore --noflush --test` and `iptables-nft-restore
//     --noflush --test` on iptables-v4.txt (ip6tables-* on iptables-v6.txt);
//   - load the rules with iptables-legacy-restore (ip6tables-legacy-restore)
//     and compare `iptables-legacy-save` with the expected file: the same
//     chains, and per chain the same `-A` lines in the same order.
//
// Needs root, `ip`, `ipset` and the iptables tools; otherwise every test is
// skipped with the reason (test/helpers/skip.ts).

import assert from "node:assert/strict";
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { type TestContext, test } from "node:test";
import { caseNames, GOLDEN_DIR } from "./golden-cases.js";
import { skipIf } from "./helpers/skip.js";

const TOOLS = [
  "ip",
  "ipset",
  "iptables-legacy-restore",
  "iptables-nft-restore",
  "ip6tables-legacy-restore",
  "ip6tables-nft-restore",
  "iptables-legacy-save",
  "ip6tables-legacy-save",
] as const;

/** Cases whose rules are also loaded into the kernel and read back; "all" loads every case. */
const LOAD_CASES: "all" | readonly string[] = "all";

function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin", "/usr/local/sbin"];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

const toolPaths = new Map<string, string>();

function run(cmd: string, args: readonly string[], input?: string): SpawnSyncReturns<string> {
  return spawnSync(toolPaths.get(cmd) ?? cmd, args, { input, encoding: "utf8", timeout: 20_000 });
}

/** Runs a command inside the namespace and asserts it succeeded. */
function inNs(ns: string, what: string, cmd: string, args: readonly string[], input?: string): string {
  const r = run("ip", ["netns", "exec", ns, toolPaths.get(cmd) ?? cmd, ...args], input);
  const detail = r.error ? String(r.error) : `exit ${r.status}${r.signal ? ` (${r.signal})` : ""}: ${r.stderr.trim()}`;
  assert.equal(r.status, 0, `${what}: ${cmd} ${args.join(" ")} failed, ${detail}`);
  return r.stdout;
}

/** Why the kernel tests cannot run here, or undefined when they can. */
function missingPrerequisite(): string | undefined {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return "not running as root";
  const missing: string[] = [];
  for (const t of TOOLS) {
    const p = findTool(t);
    if (p) toolPaths.set(t, p);
    else missing.push(t);
  }
  if (missing.length) return `missing ${missing.join(", ")}`;
  // Network namespaces may still be unavailable (e.g. in an unprivileged container).
  const probe = `felix-golden-probe-${randomBytes(4).toString("hex")}`;
  const add = run("ip", ["netns", "add", probe]);
  if (add.status !== 0) return `cannot create a network namespace: ${add.stderr.trim() || add.error}`;
  run("ip", ["netns", "delete", probe]);
  return undefined;
}

interface Parsed {
  /** table → user chains declared (`:name - [0:0]`). */
  readonly chains: Map<string, Set<string>>;
  /** table → chain → its `-A` lines, in order. */
  readonly rules: Map<string, Map<string, string[]>>;
}

/** Parses iptables-save / iptables-restore text (comments, counters and builtin policies ignored). */
function parseSave(text: string): Parsed {
  const chains = new Map<string, Set<string>>();
  const rules = new Map<string, Map<string, string[]>>();
  let table = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) {
      table = line.slice(1);
      chains.set(table, chains.get(table) ?? new Set());
      rules.set(table, rules.get(table) ?? new Map());
    } else if (line.startsWith(":")) {
      const [name, policy] = line.slice(1).split(" ");
      if (policy === "-") chains.get(table)!.add(name);
    } else if (line.startsWith("-A ")) {
      const chain = line.split(" ")[1];
      const t = rules.get(table)!;
      t.set(chain, [...(t.get(chain) ?? []), line]);
    }
  }
  return { chains, rules };
}

/** Tables with something in them, as sorted plain data for deepEqual. */
function normalise(p: Parsed): Record<string, { chains: string[]; rules: Record<string, string[]>; sorted: string[] }> {
  const out: Record<string, { chains: string[]; rules: Record<string, string[]>; sorted: string[] }> = {};
  const tables = new Set([...p.chains.keys(), ...p.rules.keys()]);
  for (const t of [...tables].sort()) {
    const chains = [...(p.chains.get(t) ?? [])].sort();
    const byChain = p.rules.get(t) ?? new Map<string, string[]>();
    if (chains.length === 0 && byChain.size === 0) continue;
    const rules: Record<string, string[]> = {};
    for (const c of [...byChain.keys()].sort()) rules[c] = byChain.get(c)!;
    out[t] = { chains, rules, sorted: [...byChain.values()].flat().sort() };
  }
  return out;
}

const addLines = (text: string) =>
  text
    .split("\n")
    .filter((l) => l.startsWith("add "))
    .sort();
const createLines = (text: string) => text.split("\n").filter((l) => l.startsWith("create "));

/**
 * Known differences between what the engine renders and what iptables-save
 * prints, by `<case>:v4|v6`: those round-trip checks run as `todo`, so they
 * show in the output without failing the suite. Remove an entry once fixed.
 */
const KNOWN_SAVE_MISMATCHES: Readonly<Record<string, string>> = {};

async function checkCase(t: TestContext, name: string): Promise<void> {
  const dir = join(GOLDEN_DIR, name);
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), "utf8") : undefined);
  const ipt4 = read("iptables-v4.txt");
  const ipt6 = read("iptables-v6.txt");
  const sets = [read("ipsets-v4.txt"), read("ipsets-v6.txt")].filter((s): s is string => s !== undefined).join("");
  assert.ok(ipt4 !== undefined, `${name}: no iptables-v4.txt (generate the golden files first)`);

  const ns = `felix-golden-${randomBytes(6).toString("hex")}`;
  const add = run("ip", ["netns", "add", ns]);
  assert.equal(add.status, 0, `ip netns add ${ns}: ${add.stderr}`);
  try {
    // The sets must exist before rules that reference them can be checked (a case without sets has no such check).
    if (sets !== "")
      await t.test("ipset restore; ipset save lists the same members", () => {
        inNs(ns, `${name}: ipsets`, "ipset", ["restore"], sets);
        const saved = inNs(ns, `${name}: ipsets`, "ipset", ["save"]);
        assert.deepEqual(
          addLines(saved),
          addLines(sets),
          `${name}: ipset save lists other members than the expected files`,
        );
        const savedCreates = createLines(saved);
        for (const c of createLines(sets)) {
          const setName = c.split(" ")[1];
          const got = savedCreates.find((l) => l.split(" ")[1] === setName);
          assert.ok(got?.startsWith(c), `${name}: ipset save has "${got}" for "${c}"`);
        }
      });

    const families: [string, "iptables" | "ip6tables", "v4" | "v6"][] = [[ipt4, "iptables", "v4"]];
    if (ipt6 !== undefined) families.push([ipt6, "ip6tables", "v6"]);
    for (const [text, tool, v] of families) {
      const file = `iptables-${v}.txt`;
      for (const flavour of ["legacy", "nft"]) {
        await t.test(`${file}: ${tool}-${flavour}-restore --noflush --test`, () => {
          inNs(ns, `${name}: ${file}`, `${tool}-${flavour}-restore`, ["--noflush", "--test"], text);
        });
      }
      if (LOAD_CASES !== "all" && !LOAD_CASES.includes(name)) continue;
      const todo = KNOWN_SAVE_MISMATCHES[`${name}:${v}`];
      await t.test(
        `${file}: loaded with ${tool}-legacy-restore, ${tool}-legacy-save prints the same rules`,
        { todo },
        () => {
          inNs(ns, `${name}: ${file} (load)`, `${tool}-legacy-restore`, ["--noflush"], text);
          const saved = inNs(ns, `${name}: ${file} (save)`, `${tool}-legacy-save`, []);
          assert.deepEqual(
            normalise(parseSave(saved)),
            normalise(parseSave(text)),
            `${name}: ${tool}-legacy-save differs from ${file}`,
          );
        },
      );
    }
  } finally {
    const del = run("ip", ["netns", "delete", ns]);
    assert.equal(del.status, 0, `ip netns delete ${ns}: ${del.stderr}`);
  }
}

// A FELIX_PROXYMODE=nftables case has no iptables files (that mode exists only in nftables):
// test/nftables/golden-nft-kernel.test.ts loads it.
const nftOnly = (name: string) =>
  (JSON.parse(readFileSync(join(GOLDEN_DIR, name, "case.json"), "utf8")) as { proxyMode?: string }).proxyMode ===
  "nftables";
const names = caseNames().filter((n) => !nftOnly(n));
const why = missingPrerequisite();
const skip = why && `needs root and iptables/ipset: ${why}`;

if (names.length === 0) {
  test("golden kernel: no cases under test/golden/", skipIf("no golden cases"), () => {});
}
for (const name of names) {
  test(`golden kernel: ${name}`, skipIf(skip), (t) => checkCase(t, name));
}
