// The real IPVS backend: `ipvsadm -S -n` to read the table (`-L -n` when the
// connection counters are needed), `ipvsadm -R` with one command per line to
// apply changes. A kernel without IPVS is reported as IpvsUnavailableError
// with what was checked, instead of ipvsadm's bare complaint.

import { access } from "node:fs/promises";
import { CommandNotFoundError, type ExecResult, run } from "../iptables/exec.js";
import { type IpvsBackend, type IpvsChange, IpvsError, IpvsUnavailableError } from "./backend.js";
import {
  addServerLine,
  addServiceLine,
  deleteServerLine,
  deleteServiceLine,
  parseIpvsadmList,
  parseIpvsadmSave,
} from "./ipvsadm-text.js";
import type { IpvsTable, KernelRealServer } from "./model.js";

export type IpvsadmExec = (args: readonly string[], input?: string) => Promise<ExecResult>;

export interface IpvsadmBackendOptions {
  /** Runs ipvsadm (default: the ipvsadm on PATH, in this process's network namespace). */
  readonly exec?: IpvsadmExec;
  /** Where the kernel lists IPVS services when it has IPVS (default /proc/net/ip_vs). */
  readonly procPath?: string;
}

/** What ipvsadm prints when the kernel has no IPVS (netlink family IPVS missing). */
const NO_IPVS = /Can't initialize ipvs|Protocol not available|IP Virtual Server is\s+built in the kernel/;

/** `ipvsadm -R` input for the changes, one command per line. */
export function restoreInput(changes: readonly IpvsChange[]): string {
  const lines = changes.map((c) => {
    switch (c.op) {
      case "add-service":
        return addServiceLine(c.service);
      case "edit-service":
        return addServiceLine(c.service, true);
      case "delete-service":
        return deleteServiceLine(c.service);
      case "add-server":
        return addServerLine(c.service, c.server);
      case "edit-server":
        return addServerLine(c.service, c.server, true);
      default:
        return deleteServerLine(c.service, c.server);
    }
  });
  return lines.length ? `${lines.join("\n")}\n` : "";
}

export class IpvsadmBackend implements IpvsBackend {
  private readonly exec: IpvsadmExec;
  private readonly procPath: string;

  constructor(o: IpvsadmBackendOptions = {}) {
    this.exec = o.exec ?? ((args, input) => run("ipvsadm", args, input));
    this.procPath = o.procPath ?? "/proc/net/ip_vs";
  }

  async list(counters = false): Promise<IpvsTable<KernelRealServer>> {
    const r = await this.ipvsadm(counters ? ["-L", "-n"] : ["-S", "-n"]);
    return counters ? parseIpvsadmList(r.stdout) : parseIpvsadmSave(r.stdout);
  }

  async apply(changes: readonly IpvsChange[]): Promise<void> {
    if (changes.length === 0) return;
    await this.ipvsadm(["-R"], restoreInput(changes));
  }

  private async ipvsadm(args: string[], input?: string): Promise<ExecResult> {
    let r: ExecResult;
    try {
      r = await this.exec(args, input);
    } catch (e) {
      if (e instanceof CommandNotFoundError) {
        throw new IpvsError("ipvsadm is not installed: the IPVS proxy mode needs it (apt-get install ipvsadm)");
      }
      throw e;
    }
    if (r.code === 0) return r;
    const said = r.stderr.trim().replace(/\s*\n\s*/g, " ");
    if (NO_IPVS.test(r.stderr)) {
      const proc = (await exists(this.procPath)) ? `${this.procPath} exists` : `${this.procPath} is missing`;
      throw new IpvsUnavailableError(
        `IPVS is not available in this kernel (${proc}; ipvsadm: ${JSON.stringify(said)}): ` +
          "load the ip_vs kernel module, or use FELIX_PROXYMODE=iptables",
      );
    }
    throw new IpvsError(`ipvsadm ${args.join(" ")} failed (exit ${r.code}): ${said}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
