// Configuration from FELIX_* environment variables (Felix's names) and flags.

import type { GraphConfig } from "../calc-graph/calc-graph.js";
import { felixNetworkConfigFromEnv } from "../calc-graph/network/convert.js";
import type { EndpointToHostAction } from "../calc-graph/rules/static.js";
import { PROXY_MODES, type ProxyMode } from "../calc-graph/services/model.js";
import { DEFAULT_HEAP_GROWTH_PERCENT } from "./heap.js";
import { ipvsOptionsFromEnv, nodePortRange } from "./ipvs-config.js";

export class ConfigError extends Error {}

export function graphConfigFromEnv(nodeName: string, env: NodeJS.ProcessEnv): GraphConfig {
  const prefix = (env.FELIX_INTERFACEPREFIX ?? "cali").split(",")[0].trim() || "cali";
  const action = (env.FELIX_DEFAULTENDPOINTTOHOSTACTION ?? "ACCEPT").toUpperCase();
  if (!["ACCEPT", "DROP", "RETURN"].includes(action)) {
    throw new ConfigError(`FELIX_DEFAULTENDPOINTTOHOSTACTION must be ACCEPT, DROP or RETURN, not ${action}`);
  }
  const proxyMode = (env.FELIX_PROXYMODE ?? "off").trim() || "off";
  if (!(PROXY_MODES as readonly string[]).includes(proxyMode)) {
    throw new ConfigError(`FELIX_PROXYMODE must be iptables, ipvs or off, not ${JSON.stringify(proxyMode)}`);
  }
  let networkEnv: ReturnType<typeof felixNetworkConfigFromEnv>;
  try {
    networkEnv = felixNetworkConfigFromEnv(env);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  return {
    nodeName,
    interfacePrefix: prefix,
    endpointToHostAction: action as EndpointToHostAction,
    proxyMode: proxyMode as ProxyMode,
    ...(proxyMode === "ipvs" ? { ipvs: ipvsOptionsFromEnv(env) } : {}),
    networkEnv,
    allowVXLANPacketsFromWorkloads: bool(
      "FELIX_ALLOWVXLANPACKETSFROMWORKLOADS",
      env.FELIX_ALLOWVXLANPACKETSFROMWORKLOADS,
      false,
    ),
    allowIPIPPacketsFromWorkloads: bool(
      "FELIX_ALLOWIPIPPACKETSFROMWORKLOADS",
      env.FELIX_ALLOWIPIPPACKETSFROMWORKLOADS,
      false,
    ),
    kubeIPVSSupport: proxyMode === "ipvs",
    kubeNodePortRange: nodePortRange(env.FELIX_KUBENODEPORTRANGES),
    // Unset unless overridden: the agent fills in what feature detection finds.
    masqFullyRandom: featureOverride(env.FELIX_FEATUREDETECTOVERRIDE).MASQFullyRandom,
  };
}

/** FELIX_CHAININSERTMODE: insert (default) or append, case-insensitive as Felix reads it. */
export type ChainInsertMode = "insert" | "append";

function chainInsertMode(v: string | undefined): ChainInsertMode {
  const m = (v ?? "").trim().toLowerCase() || "insert";
  if (m !== "insert" && m !== "append") {
    throw new ConfigError(`FELIX_CHAININSERTMODE must be insert or append, not ${JSON.stringify(v)}`);
  }
  return m;
}

/**
 * FELIX_FEATUREDETECTOVERRIDE, e.g. `MASQFullyRandom=false,RestoreSupportsLock=true`:
 * Felix's way to overrule what feature detection finds.
 */
export function featureOverride(v: string | undefined): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const part of (v ?? "").split(",")) {
    if (!part.trim()) continue;
    const [k, val] = part.split("=").map((x) => x.trim());
    out[k] = bool(`FELIX_FEATUREDETECTOVERRIDE ${k}`, val, true);
  }
  return out;
}

export interface AgentConfig {
  /** FELIX_IPTABLESREFRESHINTERVAL, seconds (Felix's default 180; 0 disables). */
  readonly iptablesRefreshInterval: number;
  /** FELIX_IPTABLESBACKEND: auto | legacy | nft. */
  readonly iptablesBackend: string;
  /** FELIX_IPV6SUPPORT (default true): also program ip6tables and IPv6 sets. */
  readonly ipv6Support: boolean;
  /** FELIX_LOGSEVERITYSCREEN (default info). */
  readonly logLevel: string;
  /** FELIX_CHAININSERTMODE: our jumps at the top of the kernel's chains (insert) or after others' rules (append). */
  readonly chainInsertMode?: ChainInsertMode;
  /** FELIX_MTUFILEPATH (felix-ts's own): where the pod MTU is written while IP pools exist (default /var/lib/calico/mtu). */
  readonly mtuFilePath?: string;
  /**
   * FELIX_HEAPGROWTHPERCENT (felix-ts's own, Felix's goGCThreshold for V8):
   * how far the heap may grow past the live heap before a full GC; 0 keeps
   * V8's default (about 2× under churn).
   */
  readonly heapGrowthPercent?: number;
}

function bool(name: string, v: string | undefined, dflt: boolean): boolean {
  if (v === undefined || v === "") return dflt;
  if (/^(true|1|yes|on)$/i.test(v)) return true;
  if (/^(false|0|no|off)$/i.test(v)) return false;
  throw new ConfigError(`${name} must be true or false, not ${JSON.stringify(v)}`);
}

function seconds(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new ConfigError(`${name} must be a number of seconds, not ${JSON.stringify(v)}`);
  return n;
}

function percent(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 1000) {
    throw new ConfigError(`${name} must be a whole number of percent from 0 to 1000, not ${JSON.stringify(v)}`);
  }
  return n;
}

export function agentConfigFromEnv(env: NodeJS.ProcessEnv): AgentConfig {
  return {
    iptablesRefreshInterval: seconds("FELIX_IPTABLESREFRESHINTERVAL", env.FELIX_IPTABLESREFRESHINTERVAL, 180),
    iptablesBackend: env.FELIX_IPTABLESBACKEND ?? "auto",
    ipv6Support: bool("FELIX_IPV6SUPPORT", env.FELIX_IPV6SUPPORT, true),
    logLevel: (env.FELIX_LOGSEVERITYSCREEN ?? "info").toLowerCase(),
    chainInsertMode: chainInsertMode(env.FELIX_CHAININSERTMODE),
    mtuFilePath: env.FELIX_MTUFILEPATH || "/var/lib/calico/mtu",
    heapGrowthPercent: percent("FELIX_HEAPGROWTHPERCENT", env.FELIX_HEAPGROWTHPERCENT, DEFAULT_HEAP_GROWTH_PERCENT),
  };
}
