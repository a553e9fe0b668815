// The kernel side of the stale-UDP cleanup of services
// (calc-graph/services/stale-udp.ts decides): list the UDP conntrack entries
// of one family, delete those matching a filter. The real one runs the
// `conntrack` command of conntrack-tools in the current network namespace;
// the fake keeps entries in memory for unit tests.

import { spawn } from "node:child_process";
import ipaddr from "ipaddr.js";
import type { UdpFlow, UdpFlowFilter } from "../calc-graph/services/stale-udp.js";
import { readHostAddresses } from "../src/host-addresses.js";

export interface ServiceConntrack {
  listUdp(family: 4 | 6): Promise<UdpFlow[]>;
  /** Deletes the matching entries; resolves the number deleted. */
  deleteUdp(filter: UdpFlowFilter): Promise<number>;
  /** This host's addresses (node ports answer there only). */
  localAddresses(): Promise<ReadonlySet<string>>;
}

const canonical = (ip: string) => {
  try {
    return ipaddr.parse(ip).toString();
  } catch {
    return ip;
  }
};

/**
 * `conntrack -L` lines → UDP flows: the first src/dst/sport/dport are the
 * original direction, the second src the reply's source. Other lines are skipped.
 */
export function parseUdpFlows(text: string, family: 4 | 6): UdpFlow[] {
  const out: UdpFlow[] = [];
  for (const line of text.split("\n")) {
    if (!/^\s*udp\s/.test(line)) continue;
    const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]);
    const dst = /\bdst=(\S+)/.exec(line)?.[1];
    const sport = [...line.matchAll(/\bsport=(\d+)/g)].map((m) => Number(m[1]));
    const dport = /\bdport=(\d+)/.exec(line)?.[1];
    if (src.length < 2 || !dst || sport.length < 2 || !dport) continue;
    out.push({
      family,
      origSrc: canonical(src[0]),
      origDst: canonical(dst),
      origSport: sport[0],
      origDport: Number(dport),
      replySrc: canonical(src[1]),
      replySport: sport[1],
    });
  }
  return out;
}

/** The conntrack arguments that delete what `f` describes. */
export function deleteArgs(f: UdpFlowFilter): string[] {
  return [
    "--delete",
    "--family",
    f.family === 4 ? "ipv4" : "ipv6",
    "--proto",
    "udp",
    ...(f.origDst !== undefined ? ["--orig-dst", f.origDst] : []),
    "--orig-port-dst",
    String(f.origDport),
    "--reply-src",
    f.replySrc,
    "--reply-port-src",
    String(f.replySport),
  ];
}

export class ServiceConntrackCli implements ServiceConntrack {
  constructor(private readonly command = "conntrack") {}

  async listUdp(family: 4 | 6): Promise<UdpFlow[]> {
    const { stdout } = await this.run(["--dump", "--family", family === 4 ? "ipv4" : "ipv6", "--proto", "udp"]);
    return parseUdpFlows(stdout, family);
  }

  async deleteUdp(f: UdpFlowFilter): Promise<number> {
    const { stderr } = await this.run(deleteArgs(f));
    return Number(/(\d+) flow entries have been deleted/.exec(stderr)?.[1] ?? 0);
  }

  async localAddresses(): Promise<ReadonlySet<string>> {
    return new Set((await readHostAddresses(() => false)).map(canonical));
  }

  private run(args: string[]): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.command, args, { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => {
        stdout += d;
      });
      child.stderr.on("data", (d) => {
        stderr += d;
      });
      child.on("error", reject);
      child.on("close", (code) => {
        // Exit 1 with "0 flow entries have been deleted." is not a failure.
        if (code === 0 || /\d+ flow entries have been (shown|deleted)/.test(stderr)) resolve({ stdout, stderr });
        else reject(new Error(`conntrack ${args.join(" ")}: exit ${code}: ${stderr.trim()}`));
      });
    });
  }
}

/** In memory, for unit tests. */
export class FakeServiceConntrack implements ServiceConntrack {
  flows: UdpFlow[] = [];
  readonly deletes: UdpFlowFilter[] = [];
  local = new Set<string>();

  async localAddresses(): Promise<ReadonlySet<string>> {
    return this.local;
  }

  async listUdp(family: 4 | 6): Promise<UdpFlow[]> {
    return this.flows.filter((f) => f.family === family);
  }

  async deleteUdp(filter: UdpFlowFilter): Promise<number> {
    this.deletes.push(filter);
    const gone = (f: UdpFlow) =>
      f.family === filter.family &&
      (filter.origDst === undefined || f.origDst === filter.origDst) &&
      f.origDport === filter.origDport &&
      f.replySrc === filter.replySrc &&
      f.replySport === filter.replySport;
    const before = this.flows.length;
    this.flows = this.flows.filter((f) => !gone(f));
    return before - this.flows.length;
  }
}
