// Scenarios of ipset and iptables-restore inputs with what the kernel does
// with each step (accepted or refused), and two ways to run them: against the
// fakes (one fake kernel: FakeIpsetBackend linked to FakeIptablesBackend) and
// against the real tools in a network namespace. fake-vs-real.test.ts runs
// both and compares outcomes and the resulting state.

import { run } from "../../iptables/exec.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { parseSave } from "../../iptables/save-parser.js";

export interface Step {
  readonly tool: "ipset" | "iptables";
  readonly input: string;
  /** What the kernel does with it: true accepted, false refused. */
  readonly ok: boolean;
}

export interface Scenario {
  readonly name: string;
  readonly steps: readonly Step[];
}

const H = "family inet hashsize 1024 maxelem 1048576";
const ipset = (ok: boolean, ...lines: string[]): Step => ({ tool: "ipset", input: `${lines.join("\n")}\n`, ok });
const ipt = (ok: boolean, ...lines: string[]): Step => ({ tool: "iptables", input: `${lines.join("\n")}\n`, ok });
const twoSets = ipset(
  true,
  `create cali40s:a hash:net ${H}`,
  "add cali40s:a 10.0.0.0/24",
  `create cali40n:b hash:ip,port ${H}`,
  "add cali40n:b 10.0.0.1,tcp:80",
);
const ruleOnA = ipt(
  true,
  "*filter",
  ":cali-x - [0:0]",
  "-A cali-x -m set --match-set cali40s:a src -j ACCEPT",
  "COMMIT",
);

export const SCENARIOS: readonly Scenario[] = [
  { name: "swap of sets of different types is refused", steps: [twoSets, ipset(false, "swap cali40s:a cali40n:b")] },
  {
    name: "swap of sets of different families is refused",
    steps: [twoSets, ipset(true, "create cali60s:c hash:net family inet6"), ipset(false, "swap cali40s:a cali60s:c")],
  },
  {
    name: "swap of sets of one type with another maxelem is accepted",
    steps: [
      twoSets,
      ipset(true, "create cali4t1 hash:net family inet hashsize 1024 maxelem 65536", "add cali4t1 10.9.0.0/16"),
      ipset(true, "swap cali4t1 cali40s:a"),
    ],
  },
  {
    name: "re-creating a set passes with the same header only",
    steps: [
      twoSets,
      ipset(true, `create cali40s:a hash:net ${H}`),
      ipset(false, `create cali40s:a hash:ip,port ${H}`),
      ipset(false, "create cali40s:a hash:net family inet hashsize 1024 maxelem 65536"),
    ],
  },
  {
    name: "a set referenced by a rule cannot be destroyed until the rule goes",
    steps: [
      twoSets,
      ruleOnA,
      ipset(false, "destroy cali40s:a"),
      ipt(true, "*filter", "-F cali-x", "-X cali-x", "COMMIT"),
      ipset(true, "destroy cali40s:a"),
    ],
  },
  {
    name: "a rule naming a missing set is refused and its table is unchanged",
    steps: [
      twoSets,
      ipt(false, "*filter", ":cali-y - [0:0]", "-A cali-y -m set --match-set cali40s:nosuch src -j ACCEPT", "COMMIT"),
    ],
  },
  {
    name: "an IPv4 rule naming an IPv6 set is refused",
    steps: [
      ipset(true, "create cali60s:c hash:net family inet6"),
      ipt(false, "*filter", ":cali-y - [0:0]", "-A cali-y -m set --match-set cali60s:c src -j ACCEPT", "COMMIT"),
    ],
  },
  {
    name: "each table commits at its COMMIT: a later table's failure leaves an earlier one committed",
    steps: [
      ipt(
        false,
        "*filter",
        ":cali-a - [0:0]",
        "-A cali-a -j ACCEPT",
        "COMMIT",
        "*nat",
        ":cali-b - [0:0]",
        "-A cali-b -j cali-missing",
        "COMMIT",
      ),
    ],
  },
  {
    name: "-X refuses a chain with rules or one still jumped to; flushed and unreferenced it goes",
    steps: [
      ipt(true, "*filter", ":cali-a - [0:0]", ":cali-b - [0:0]", "-A cali-a -j ACCEPT", "-A INPUT -j cali-b", "COMMIT"),
      ipt(false, "*filter", "-X cali-a", "COMMIT"),
      ipt(false, "*filter", "-X cali-b", "COMMIT"),
      ipt(true, "*filter", "-F cali-a", "-X cali-a", "-D INPUT -j cali-b", "-X cali-b", "COMMIT"),
    ],
  },
  {
    name: "members must have the set's form and family",
    steps: [
      twoSets,
      ipset(false, "add cali40s:a 10.0.0.1,tcp:80"),
      ipset(false, "add cali40s:a fd00::1"),
      ipset(false, "add cali40n:b 10.0.0.1"),
      ipset(true, "add cali40n:b 10.0.0.2,udp:53", "add cali40s:a 10.1.0.0/16", "add cali40s:a 10.2.0.1"),
      ipset(true, "create cali60s:c hash:net family inet6", "add cali60s:c fd00::/64"),
      ipset(false, "add cali60s:c 10.0.0.1"),
      ipset(true, `create cali40x hash:ip,port,net ${H}`, "add cali40x 10.0.0.1,tcp:80,10.0.0.0/24"),
      ipset(false, "add cali40x 10.0.0.1,tcp:80"),
    ],
  },
  {
    name: "set names are at most 31 characters",
    steps: [
      ipset(true, `create cali40s:${"a".repeat(23)} hash:net ${H}`),
      ipset(false, `create cali40s:${"a".repeat(24)} hash:net ${H}`),
    ],
  },
  {
    name: "a user chain named in a restore is flushed",
    steps: [
      ipt(true, "*filter", ":cali-a - [0:0]", "-A cali-a -j ACCEPT", "-A cali-a -j DROP", "COMMIT"),
      ipt(true, "*filter", ":cali-a - [0:0]", "-A cali-a -j RETURN", "COMMIT"),
    ],
  },
];

/** A kernel the steps run against. */
export interface ScenarioKernel {
  apply(step: Step): Promise<boolean>;
  /** Sets and chains in a form both kernels print alike. */
  state(): Promise<KernelView>;
  close(): void;
}

export interface KernelView {
  readonly sets: Record<string, string>;
  readonly chains: Record<string, string[]>;
}

export function view(ipsetSave: string, iptablesSave: string): KernelView {
  const sets: Record<string, { header: string; members: string[] }> = {};
  for (const line of ipsetSave.split("\n")) {
    const w = line.trim().split(/\s+/);
    const opt = (k: string, d: string) => (w.indexOf(k) > 0 ? w[w.indexOf(k) + 1] : d);
    if (w[0] === "create")
      sets[w[1]] = { header: `${w[2]} ${opt("family", "inet")} maxelem ${opt("maxelem", "65536")}`, members: [] };
    else if (w[0] === "add") sets[w[1]].members.push(w[2]);
  }
  const chains: Record<string, string[]> = {};
  for (const [t, table] of parseSave(iptablesSave))
    for (const [name, c] of table.chains)
      if (c.policy === "-" || c.rules.length > 0) chains[`${t}/${name}`] = c.rules.map((r) => r.text);
  return {
    sets: Object.fromEntries(Object.entries(sets).map(([n, s]) => [n, `${s.header}: ${s.members.sort().join(" ")}`])),
    chains,
  };
}

export function fakeKernel(mode: "legacy" | "nft"): ScenarioKernel {
  const sets = new FakeIpsetBackend();
  const ipt = new FakeIptablesBackend(4, mode, sets);
  return {
    async apply(step) {
      try {
        await (step.tool === "ipset" ? sets.restore(step.input) : ipt.restore(step.input));
        return true;
      } catch {
        return false;
      }
    },
    async state() {
      return view(await sets.save(), await ipt.save());
    },
    close() {},
  };
}

/** The real tools inside namespace `ns` (ipsets and iptables are per namespace). */
export function realKernel(ns: string, mode: "legacy" | "nft"): ScenarioKernel {
  const exec = (cmd: string, args: string[], input?: string) => run("ip", ["netns", "exec", ns, cmd, ...args], input);
  return {
    async apply(step) {
      const r =
        step.tool === "ipset"
          ? await exec("ipset", ["restore", "-exist"], step.input)
          : await exec(`iptables-${mode}-restore`, ["--noflush"], step.input);
      return r.code === 0;
    },
    async state() {
      const sets = await exec("ipset", ["save"]);
      const tables = await exec(`iptables-${mode}-save`, []);
      return view(sets.stdout, tables.stdout);
    },
    close() {},
  };
}
