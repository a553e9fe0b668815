// Configuration from FELIX_* environment variables (Felix's names) and flags.

import type { GraphConfig } from "../calc-graph/calc-graph.js";
import { felixNetworkConfigFromEnv } from "../calc-graph/network/convert.js";
import { DEFAULT_MAX_POLICY_RULES } from "../calc-graph/rules/rule-bound.js";
import { PROXY_MODES, type ProxyMode } from "../calc-graph/services/model.js";
import { DEFAULT_MAX_SERVICE_ENDPOINT_PORTS } from "../calc-graph/services/service-size.js";
import { IPTABLES_RULES } from "../iptables/rule-render.js";
import { MAX_IPSET_SIZE } from "../model/ipset.js";
import { DEFAULT_HEAP_GROWTH_PERCENT } from "./heap.js";
import { ipvsOptionsFromEnv } from "./ipvs-config.js";
import { kubeProxyOptionsFromEnv } from "./kube-proxy-config.js";

export class ConfigError extends Error {}

export function graphConfigFromEnv(nodeName: string, env: NodeJS.ProcessEnv): GraphConfig {
  // Veths are named with the first prefix (libcalico-go); the rules match every one (networkEnv.interfacePrefix).
  const prefix = (env.FELIX_INTERFACEPREFIX ?? "cali").split(",")[0].trim() || "cali";
  // It is written into interface matches (`-i cali+`) and compared with link names: one short safe token.
  if (!/^[A-Za-z0-9_.-]{1,12}$/.test(prefix)) {
    throw new ConfigError(
      `FELIX_INTERFACEPREFIX must be letters, digits, '_', '.' or '-' (at most 12), not ${JSON.stringify(prefix)}`,
    );
  }
  const proxyMode = (env.FELIX_PROXYMODE ?? "off").trim() || "off";
  if (!(PROXY_MODES as readonly string[]).includes(proxyMode)) {
    throw new ConfigError(`FELIX_PROXYMODE must be iptables, ipvs, nftables or off, not ${JSON.stringify(proxyMode)}`);
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
    maxIpSetSize: maxIpSetSize(env),
    // felix-ts's own: rules one policy chain may render per family (calc-graph/rules/rule-bound.ts).
    maxPolicyRules: count("FELIX_POLICYMAXRULES", env.FELIX_POLICYMAXRULES, DEFAULT_MAX_POLICY_RULES, 10_000_000),
    // felix-ts's own: (port, endpoint) pairs of one Service (calc-graph/services/service-index.ts).
    maxServiceEndpointPorts: count(
      "FELIX_SERVICEMAXENDPOINTPORTS",
      env.FELIX_SERVICEMAXENDPOINTPORTS,
      DEFAULT_MAX_SERVICE_ENDPOINT_PORTS,
      100_000_000,
    ),
    proxyMode: proxyMode as ProxyMode,
    ...(proxyMode === "ipvs" ? { ipvs: ipvsOptionsFromEnv(env) } : {}),
    kubeProxy: kubeProxyOptionsFromEnv(env),
    networkEnv,
    // kube-proxy's kube-ipvs0 at start-up turns it on too (the agent checks).
    kubeIPVSSupport: proxyMode === "ipvs",
    ruleRenderer: IPTABLES_RULES,
  };
}

/** A whole number from 1 to `max` (unset or empty: `dflt`). */
function count(name: string, v: string | undefined, dflt: number, max: number): number {
  if (v === undefined || v.trim() === "") return dflt;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new ConfigError(`${name} must be a whole number from 1 to ${max}, not ${JSON.stringify(v)}`);
  }
  return n;
}

/**
 * FELIX_MAXIPSETSIZE (Felix's MaxIpsetSize): the most members one IP set may
 * hold, and the maxelem our sets are created with. Felix's default 1048576;
 * ipset's maxelem is a 32-bit count.
 */
export function maxIpSetSize(env: NodeJS.ProcessEnv): number {
  return count("FELIX_MAXIPSETSIZE", env.FELIX_MAXIPSETSIZE, MAX_IPSET_SIZE, 0xffffffff);
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
  /** FELIX_MTUFILEPATH (felix-ts's own): where the pod MTU is written while IP pools exist (default /var/lib/calico/mtu). */
  readonly mtuFilePath?: string;
  /**
   * FELIX_HEAPGROWTHPERCENT (felix-ts's own, Felix's goGCThreshold for V8):
   * how far the heap may grow past the live heap before a full GC; 0 keeps
   * V8's default (about 2× under churn).
   */
  readonly heapGrowthPercent?: number;
  /** FELIX_MAXIPSETSIZE: the maxelem of our IP sets (the graph keeps every set within it). */
  readonly maxIpSetSize?: number;
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
    mtuFilePath: env.FELIX_MTUFILEPATH || "/var/lib/calico/mtu",
    heapGrowthPercent: percent("FELIX_HEAPGROWTHPERCENT", env.FELIX_HEAPGROWTHPERCENT, DEFAULT_HEAP_GROWTH_PERCENT),
    maxIpSetSize: maxIpSetSize(env),
  };
}
