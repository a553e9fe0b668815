// FELIX_TEST_DATAPLANE=nftables runs the kernel e2e suites with the agent in
// nftables mode (FELIX_NFTABLESMODE=Enabled for every agent they start, which
// inherit this process's environment); `iptables` (the default) pins
// Disabled, so a host where kube-proxy runs in nftables mode (Auto) does not
// change what the suites test.

import assert from "node:assert/strict";
import { NFT_NAT_TABLES, NFT_TABLE } from "../../nftables/names.js";
import { exec, iptablesCmd } from "../../src/netns/topology.js";

export type TestDataplane = "iptables" | "nftables";

for (const v of ["FELIX_TEST_DATAPLANE", "FELIX_TEST_PROXYMODE"]) {
  const value = process.env[v];
  if (value && !["iptables", "nftables"].includes(value))
    throw new Error(`${v} must be iptables or nftables, not ${value}`);
}

/**
 * FELIX_TEST_PROXYMODE=nftables runs the services suites with kube-proxy's
 * nftables layout (FELIX_PROXYMODE=nftables for the agents they start); it
 * implies the nftables dataplane (the only one that mode runs with).
 */
export const TEST_PROXYMODE: "iptables" | "nftables" =
  process.env.FELIX_TEST_PROXYMODE === "nftables" ? "nftables" : "iptables";

export const TEST_DATAPLANE: TestDataplane =
  process.env.FELIX_TEST_DATAPLANE === "nftables" || TEST_PROXYMODE === "nftables" ? "nftables" : "iptables";

if (TEST_PROXYMODE === "nftables" && process.env.FELIX_TEST_DATAPLANE === "iptables") {
  throw new Error("FELIX_TEST_PROXYMODE=nftables needs the nftables dataplane, not FELIX_TEST_DATAPLANE=iptables");
}
process.env.FELIX_NFTABLESMODE ??= TEST_DATAPLANE === "nftables" ? "Enabled" : "Disabled";

// Reading our rules back from the kernel in either mode: chain X of iptables
// table T is `T-X` in table `ip|ip6 calico`, or in one of the nat tables for nat (nftables/README.md).

/** iptables-save of the backend the agent uses (legacy where installed). */
function saveCmd(family: 4 | 6): string {
  const ipt = iptablesCmd();
  return `${family === 4 ? ipt : ipt.replace(/^iptables/, "ip6tables")}-save`;
}

/** Our nft tables holding iptables table `table`'s chains (`calico`; for nat, those of our nat tables present). */
async function nftTables(ns: string, table: string, fam: string): Promise<string[]> {
  const listed = await exec(ns, "nft", "list", "tables", fam);
  const ours = table === "nat" ? NFT_NAT_TABLES : [NFT_TABLE];
  return ours.filter((t) => listed.includes(`table ${fam} ${t}\n`));
}

/** The nft table, family and chain of chain `chain` of iptables table `table` (a nat chain: the nat table holding it). */
async function nftTarget(ns: string, table: string, chain: string, family: 4 | 6): Promise<[string, string, string]> {
  const fam = family === 4 ? "ip" : "ip6";
  const name = `${table}-${chain}`;
  for (const t of await nftTables(ns, table, fam)) {
    if ((await exec(ns, "nft", "list", "table", fam, t)).includes(`\tchain ${name} {`)) return [fam, t, name];
  }
  return [fam, table === "nat" ? NFT_NAT_TABLES[0] : NFT_TABLE, name];
}

/**
 * Our rules of a chain as text: iptables-save's `-A <chain> …` lines, or the
 * rule lines `nft list chain` prints (each `counter` without its values, as rendered).
 */
export async function chainRules(ns: string, table: string, chain: string, family: 4 | 6 = 4): Promise<string[]> {
  if (TEST_DATAPLANE === "iptables") {
    const save = await exec(ns, saveCmd(family), "-t", table);
    return save.split("\n").filter((l) => l.startsWith(`-A ${chain} `));
  }
  return (await nftRules(ns, ...(await nftTarget(ns, table, chain, family)))).map((r) => r.text);
}

/** `nft list chain`'s rules, each with its counter's packets (nft wraps long set literals over several lines). */
async function nftRules(
  ns: string,
  fam: string,
  table: string,
  name: string,
): Promise<{ text: string; packets: number | undefined }[]> {
  const out = await exec(ns, "nft", "-a", "list", "chain", fam, table, name);
  const body = out.slice(out.indexOf("{", out.indexOf(`chain ${name}`)) + 1).replace(/^[^\n]*\n/, "");
  return [...body.matchAll(/([^#]*?)\s*# handle (\d+)/g)].map((m) => {
    const raw = m[1].replace(/\s+/g, " ").trim();
    const c = /(^| )counter packets (\d+) bytes \d+/.exec(raw);
    return {
      text: raw.replace(/(^| )counter packets \d+ bytes \d+/, "$1counter"),
      packets: c ? Number(c[2]) : undefined,
    };
  });
}

/** Every chain of a table holding our rules, by its iptables name ([] when we have none). */
export async function chainNames(ns: string, table: string, family: 4 | 6 = 4): Promise<string[]> {
  if (TEST_DATAPLANE === "iptables") {
    const save = await exec(ns, saveCmd(family), "-t", table);
    return [...save.matchAll(/^:(\S+)/gm)].map((m) => m[1]);
  }
  const fam = family === 4 ? "ip" : "ip6";
  const out: string[] = [];
  for (const t of await nftTables(ns, table, fam)) {
    const text = await exec(ns, "nft", "list", "table", fam, t);
    out.push(...[...text.matchAll(new RegExp(`^\\s*chain ${table}-(\\S+) \\{`, "gm"))].map((m) => m[1]));
  }
  return out;
}

/**
 * Packets counted by the first rule of a chain matching the pattern of this
 * mode (an iptables-save `-A` line, or an `nft list` rule line, whose own
 * `counter` it reads). Felix rewriting the chain resets the counts: read
 * before and after with no felix run in between.
 */
export async function ruleCounter(
  ns: string,
  table: string,
  chain: string,
  pattern: { iptables: RegExp; nftables: RegExp },
  family: 4 | 6 = 4,
): Promise<number> {
  if (TEST_DATAPLANE === "iptables") {
    const save = await exec(ns, saveCmd(family), "-c", "-t", table);
    const line = save.split("\n").find((l) => l.includes(` -A ${chain} `) && pattern.iptables.test(l));
    assert.ok(line, `no rule matching ${pattern.iptables} in ${table} ${chain}:\n${save}`);
    return Number(/^\[(\d+):/.exec(line)?.[1]);
  }
  const [fam, t, name] = await nftTarget(ns, table, chain, family);
  const rules = await nftRules(ns, fam, t, name);
  const rule = rules.find((r) => pattern.nftables.test(r.text));
  assert.ok(
    rule,
    `no rule matching ${pattern.nftables} in ${fam} ${t} ${name}:\n${rules.map((r) => r.text).join("\n")}`,
  );
  assert.ok(rule.packets !== undefined, `the rule has no counter: ${rule.text}`);
  return rule.packets;
}

/** This mode's one of the two (a pattern in each mode's syntax, say). */
export function byMode<T>(v: { iptables: T; nftables: T }): T {
  return v[TEST_DATAPLANE];
}

/** One table of ours as text: iptables-save's, or all of our nft tables holding it (its chains are `<table>-…`). */
export async function tableText(ns: string, table: string, family: 4 | 6 = 4): Promise<string> {
  if (TEST_DATAPLANE === "iptables") return exec(ns, saveCmd(family), "-t", table);
  const fam = family === 4 ? "ip" : "ip6";
  const out: string[] = [];
  for (const t of await nftTables(ns, table, fam)) out.push(await exec(ns, "nft", "list", "table", fam, t));
  return out.join("");
}

/** Fails unless the agent in `ns` programs services in the proxy layout under test (no silent fallback). */
export async function assertProxyLayout(ns: string): Promise<void> {
  if (TEST_PROXYMODE === "nftables") {
    const m = await exec(ns, "nft", "list", "map", "ip", "calico-nat", "service-ips");
    assert.match(m, /type ipv4_addr \. inet_proto \. inet_service : verdict/);
    assert.ok(
      !(await chainNames(ns, "nat")).includes("cali-SERVICES"),
      "an iptables-layout chain in nftables proxy mode",
    );
    return;
  }
  assert.ok((await chainNames(ns, "nat")).includes("cali-SERVICES"), "no cali-SERVICES chain in iptables proxy mode");
}
