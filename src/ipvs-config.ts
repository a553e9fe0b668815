// IPVS proxy-mode settings from FELIX_* environment variables, named the way
// Felix names config (FelixConfiguration field, upper-cased):
//   FELIX_IPVSSCHEDULER       kube-proxy's --ipvs-scheduler (default rr)
//   FELIX_KUBENODEPORTRANGES  Felix's KubeNodePortRanges (default 30000:32767; the first range is used)
// FELIX_PROXYMODE itself (iptables | ipvs | off) is read with the rest of the config.

import { DEFAULT_NODE_PORT_RANGE, type IpvsOptions } from "../calc-graph/services/ipvs-desired.js";
import { SCHEDULERS } from "../ipvs/model.js";
import { ConfigError } from "./config.js";

export function ipvsOptionsFromEnv(env: NodeJS.ProcessEnv): IpvsOptions {
  const scheduler = (env.FELIX_IPVSSCHEDULER ?? "rr").trim() || "rr";
  if (!SCHEDULERS.includes(scheduler)) {
    throw new ConfigError(
      `FELIX_IPVSSCHEDULER must be one of ${SCHEDULERS.join(", ")}, not ${JSON.stringify(scheduler)}`,
    );
  }
  return { scheduler, nodePortRange: nodePortRange(env.FELIX_KUBENODEPORTRANGES) };
}

/** FELIX_KUBENODEPORTRANGES' first range. */
export function nodePortRange(v: string | undefined): readonly [number, number] {
  if (v === undefined || v.trim() === "") return DEFAULT_NODE_PORT_RANGE;
  const m = /^\s*(\d+)(?:[:-](\d+))?\s*(?:,|$)/.exec(v);
  const lo = Number(m?.[1]);
  const hi = Number(m?.[2] ?? m?.[1]);
  if (!m || lo < 1 || hi > 65535 || lo > hi) {
    throw new ConfigError(`FELIX_KUBENODEPORTRANGES must look like 30000:32767, not ${JSON.stringify(v)}`);
  }
  return [lo, hi];
}
