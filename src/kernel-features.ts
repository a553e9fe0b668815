// What this host's kernel and iptables can do, and start-up kernel set-up,
// as Felix does it (environment/feature_detect_linux.go, dataplane
// configureKernel, driver.go's kube-ipvs0 check):
//   - MASQUERADE --random-fully needs iptables ≥ 1.6.2 and kernel ≥ 3.14;
//   - nf_conntrack_proto_sctp is loaded where it is a module (elsewhere SCTP
//     conntrack is built in and modprobe fails harmlessly); without it the
//     kernel marks SCTP packets INVALID and the endpoint chains drop them;
//   - kube-proxy's kube-ipvs0 device means kube-proxy runs in IPVS mode.

import { existsSync } from "node:fs";
import { CommandNotFoundError, run } from "../iptables/exec.js";
import { startProbe } from "./start-probes.js";

export type Version = readonly [number, number, number];

/** The first `a.b[.c]` in a version text (`iptables v1.8.9 (legacy)`, `6.18.44-fc-v1300`). */
export function parseVersion(text: string): Version | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

export function atLeast(v: Version, min: Version): boolean {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i] > min[i];
  return true;
}

export interface Features {
  readonly masqFullyRandom: boolean;
}

/** Features from `iptables --version` output and the kernel release; an unknown version counts as too old. */
export function detectFeatures(iptablesVersion: string, kernelRelease: string): Features {
  const ipt = parseVersion(iptablesVersion);
  const ker = parseVersion(kernelRelease);
  return { masqFullyRandom: !!ipt && !!ker && atLeast(ipt, [1, 6, 2]) && atLeast(ker, [3, 14, 0]) };
}

/** `<binary> --version`'s output, or "" when it cannot be run (asked once per process: preflight asks too). */
export async function commandVersion(binary: string): Promise<string> {
  try {
    const r = await startProbe(binary, ["--version"]);
    return r.code === 0 ? r.stdout : "";
  } catch (e) {
    if (e instanceof CommandNotFoundError) return "";
    throw e;
  }
}

export const SCTP_CONNTRACK_MODULE = "nf_conntrack_proto_sctp";

/** Tries `modprobe nf_conntrack_proto_sctp`; the outcome, for the log (never an error). */
export async function loadSctpConntrack(
  exec: (cmd: string, args: string[]) => Promise<{ code: number; stderr: string }> = run,
): Promise<string> {
  try {
    const r = await exec("modprobe", [SCTP_CONNTRACK_MODULE]);
    return r.code === 0 ? "loaded" : `modprobe failed (built in, or not available): ${r.stderr.trim()}`;
  } catch (e) {
    return `modprobe could not run: ${(e as Error).message}`;
  }
}

export const KUBE_IPVS_DEVICE = "kube-ipvs0";

/** Whether kube-proxy's IPVS device exists in this network namespace (sysfs follows the netns). */
export function kubeIpvsPresent(sysClassNet = "/sys/class/net"): boolean {
  return existsSync(`${sysClassNet}/${KUBE_IPVS_DEVICE}`);
}
