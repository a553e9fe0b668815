// Checks that the agent can program this machine, with messages that say
// what to do about it.

import { binary, type IptablesMode } from "../iptables/backend.js";
import { CommandNotFoundError } from "../iptables/exec.js";
import { startProbe } from "./start-probes.js";

async function exists(cmd: string, args: string[] = ["--version"]): Promise<boolean> {
  try {
    await startProbe(cmd, args);
    return true;
  } catch (e) {
    if (e instanceof CommandNotFoundError) return false;
    throw e;
  }
}

/** What preflight looks at; tests inject their own. */
export interface PreflightProbes {
  /** The effective user id (undefined off POSIX). */
  uid(): number | undefined;
  /** Whether `cmd args` can be started. */
  exists(cmd: string, args?: string[]): Promise<boolean>;
}

const HOST: PreflightProbes = { uid: () => process.getuid?.(), exists };

/** Problems that stop the agent; empty when it can run. */
export async function preflight(
  mode: IptablesMode,
  probes: PreflightProbes = HOST,
  policy: "iptables" | "nftables" = "iptables",
): Promise<string[]> {
  const problems: string[] = [];
  if (probes.uid() !== 0) {
    problems.push("felix needs root (CAP_NET_ADMIN) to program iptables, ipsets and routes: run it with sudo");
  }
  if (policy === "nftables") {
    // nftables mode needs nft only (iptables and ipset, when present, are used to remove our old rules).
    if (!(await probes.exists("nft", ["--version"])))
      problems.push(
        "nft not found: install the nftables package (apt-get install nftables), or set FELIX_NFTABLESMODE=Disabled",
      );
    return problems;
  }
  // The three tools are looked for at once (one process each; none waits for another).
  const [save, restore] = [binary(4, mode, "save"), binary(4, mode, "restore")];
  const found = await Promise.all([probes.exists(save), probes.exists(restore), probes.exists("ipset", ["version"])]);
  for (const [i, cmd] of [save, restore].entries())
    if (!found[i]) problems.push(`${cmd} not found: install the iptables package (apt-get install iptables)`);
  if (!found[2]) problems.push("ipset not found: install the ipset package (apt-get install ipset)");
  return problems;
}
