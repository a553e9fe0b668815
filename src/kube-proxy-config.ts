// kube-proxy's flags that shape the iptables proxy mode, as FELIX_* settings:
//   FELIX_KUBEPROXYLOCALHOSTNODEPORTS  --iptables-localhost-nodeports (default true)
//   FELIX_KUBEPROXYMASQUERADEALL       --masquerade-all (default false)
//   FELIX_KUBEPROXYNODEPORTADDRESSES   --nodeport-addresses: comma-separated CIDRs, or
//                                      "primary" (the node's primary IPs); default every local address
// (kube-proxy's INVALID drop follows nf_conntrack_tcp_be_liberal, read by the agent at start.)

import { parseCidr } from "../calc-graph/conversion/cidr.js";
import {
  DEFAULT_KUBE_PROXY_OPTIONS,
  type KubeProxyOptions,
  type NodePortAddresses,
} from "../calc-graph/services/model.js";
import { ConfigError } from "./config.js";

function bool(env: NodeJS.ProcessEnv, name: string, dflt: boolean): boolean {
  const v = env[name]?.trim();
  if (!v) return dflt;
  if (/^(true|1|yes|on)$/i.test(v)) return true;
  if (/^(false|0|no|off)$/i.test(v)) return false;
  throw new ConfigError(`${name} must be true or false, not ${JSON.stringify(env[name])}`);
}

function nodePortAddresses(v: string | undefined): NodePortAddresses {
  const s = v?.trim();
  if (!s) return { kind: "all" };
  if (s === "primary") return { kind: "primary" };
  const cidrs = s.split(",").map((c) => c.trim());
  try {
    return { kind: "cidrs", cidrs: [...new Set(cidrs.map((c) => parseCidr(c).text))].sort() };
  } catch (e) {
    throw new ConfigError(
      `FELIX_KUBEPROXYNODEPORTADDRESSES must be "primary" or comma-separated CIDRs, not ${JSON.stringify(v)}: ${(e as Error).message}`,
    );
  }
}

export function kubeProxyOptionsFromEnv(env: NodeJS.ProcessEnv, conntrackTCPLiberal = false): KubeProxyOptions {
  return {
    localhostNodePorts: bool(env, "FELIX_KUBEPROXYLOCALHOSTNODEPORTS", DEFAULT_KUBE_PROXY_OPTIONS.localhostNodePorts),
    masqueradeAll: bool(env, "FELIX_KUBEPROXYMASQUERADEALL", DEFAULT_KUBE_PROXY_OPTIONS.masqueradeAll),
    nodePortAddresses: nodePortAddresses(env.FELIX_KUBEPROXYNODEPORTADDRESSES),
    conntrackTCPLiberal,
  };
}
