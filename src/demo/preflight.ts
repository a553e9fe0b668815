// What felix demo needs from the machine, checked before anything is created,
// with messages that say what to do (Debian package names).

import { pythonPath, which } from "../netns/topology.js";

const TOOLS: readonly { cmd: string; pkg: string; what: string }[] = [
  { cmd: "ip", pkg: "iproute2", what: "network namespaces, veths, routes" },
  { cmd: "ipset", pkg: "ipset", what: "IP sets for selectors" },
  { cmd: "iptables-legacy-restore", pkg: "iptables", what: "the agent's rules" },
  { cmd: "iptables-legacy-save", pkg: "iptables", what: "the agent's rules" },
  { cmd: "sysctl", pkg: "procps", what: "interface settings" },
];

export interface Machine {
  readonly platform: string;
  readonly uid: number | undefined;
  readonly has: (cmd: string) => boolean;
  readonly python: string | undefined;
}

const thisMachine = (): Machine => ({
  platform: process.platform,
  uid: process.getuid?.(),
  has: (cmd) => which(cmd) !== undefined,
  python: pythonPath(),
});

/** Why the demo cannot run here (one line per problem); empty when it can. */
export function demoPreflight(m: Machine = thisMachine()): string[] {
  if (m.platform !== "linux") return ["felix demo needs Linux (network namespaces, iptables)"];
  if (m.uid !== 0) return ["needs root to create network namespaces: run with sudo"];
  const problems: string[] = [];
  const missing = TOOLS.filter((t) => !m.has(t.cmd));
  const pkgs = [...new Set(missing.map((t) => t.pkg))];
  for (const t of missing) problems.push(`${t.cmd} not found (${t.what})`);
  if (!m.python) {
    problems.push("python3 not found (the demo's pods run a small python TCP/UDP server)");
    pkgs.push("python3");
  }
  if (pkgs.length) problems.push(`install with: apt-get install -y ${pkgs.join(" ")}`);
  return problems;
}
