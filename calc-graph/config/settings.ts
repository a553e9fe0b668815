// The effective rule-rendering settings: the merged FelixConfiguration/env
// fields with Felix's defaults filled in. The state builder re-renders every
// chain when these change (they change rarely; Felix restarts instead).

import { DEFAULT_FAILSAFE_INBOUND, DEFAULT_FAILSAFE_OUTBOUND, type ProtoPort } from "./failsafe.js";
import type { FelixConfig } from "./fields.js";
import type { PortRange } from "./parse.js";

export type EndpointToHostAction = "ACCEPT" | "DROP" | "RETURN";

export interface RuleSettings {
  /** Workload interface prefixes (`interfacePrefix`, a comma list; Felix: `cali`). */
  readonly interfacePrefixes: readonly string[];
  /** What cali-wl-to-host does with workload → host traffic policy let through. */
  readonly endpointToHostAction: EndpointToHostAction;
  /** How the filter table lets accepted packets go: ACCEPT, or RETURN to the chain that called us. */
  readonly filterAllowAction: "ACCEPT" | "RETURN";
  /** How the filter table refuses packets: DROP, or REJECT (the client learns at once). */
  readonly filterDenyAction: "DROP" | "REJECT";
  /** Whether our hooks go first (insert) or after other programs' rules (append); rendered by static.ts. */
  readonly chainInsertMode: "insert" | "append";
  /** Workloads may send VXLAN-port UDP / IP-in-IP (default: their egress drops it). */
  readonly allowVXLANPacketsFromWorkloads: boolean;
  readonly allowIPIPPacketsFromWorkloads: boolean;
  /** Mask the mark bits come from (Felix's 0xffff0000). */
  readonly markMask: number;
  /** natOutgoing: SNAT to this address instead of MASQUERADE (IPv4 only, as in Felix). */
  readonly natOutgoingAddress?: string;
  /** natOutgoing: source ports for TCP and UDP. */
  readonly natPortRange?: PortRange;
  /** natOutgoing: only traffic leaving this interface (`-o`). */
  readonly natOutgoingInterfaceFilter?: string;
  /** `Any`: a pod's `cni.projectcalico.org/allowedSourcePrefixes` are exempt from the anti-spoofing check. */
  readonly workloadSourceSpoofing: "Disabled" | "Any";
  /** false: no ip6tables rules, IPv6 sets, IPv6 routes or IPv6 sysctls. */
  readonly ipv6Support: boolean;
  /** Interfaces (anchored regular expressions) the link monitor ignores. */
  readonly interfaceExclude: readonly string[];
  /** kubeNodePortRanges' first range (IPVS support's cali-forward-check); default 30000:32767. */
  readonly kubeNodePortRange: readonly [number, number];
  /** MASQUERADE --random-fully: feature detection, unless featureDetectOverride says MASQFullyRandom. */
  readonly masqFullyRandom: boolean;
  /** FELIX_LOGPREFIX: Log rules' prefix template (Felix's default `calico-packet`). */
  readonly logPrefix: string;
  /** NFLOG group of the drop reports (dropNflogGroup); undefined: no NFLOG rules. */
  readonly dropNflogGroup?: number;
  /** Host endpoints: inbound/outbound traffic their policy never blocks (Felix's defaults). */
  readonly failsafeInboundHostPorts: readonly ProtoPort[];
  readonly failsafeOutboundHostPorts: readonly ProtoPort[];
}

/** What the agent detected on this host (Felix's feature detection); tests default to a modern host. */
export interface DetectedFeatures {
  readonly masqFullyRandom?: boolean;
}

export const DEFAULT_MARK_MASK = 0xffff0000;

/**
 * Defaults are Felix's, but for defaultEndpointToHostAction: felix-ts keeps
 * ACCEPT, which Calico's manifests set (Felix's own default is DROP, which
 * blocks pod → node DNS/health traffic on a stock install without policy).
 */
export function ruleSettings(cfg: FelixConfig, fallbackPrefix = "cali", detected: DetectedFeatures = {}): RuleSettings {
  const nodePorts = cfg.kubeNodePortRanges?.[0];
  return {
    interfacePrefixes: cfg.interfacePrefix?.length ? cfg.interfacePrefix : [fallbackPrefix],
    endpointToHostAction: cfg.defaultEndpointToHostAction ?? "ACCEPT",
    filterAllowAction: cfg.iptablesFilterAllowAction ?? "ACCEPT",
    filterDenyAction: cfg.iptablesFilterDenyAction ?? "DROP",
    chainInsertMode: cfg.chainInsertMode ?? "insert",
    allowVXLANPacketsFromWorkloads: cfg.allowVXLANPacketsFromWorkloads ?? false,
    allowIPIPPacketsFromWorkloads: cfg.allowIPIPPacketsFromWorkloads ?? false,
    markMask: cfg.iptablesMarkMask ?? DEFAULT_MARK_MASK,
    ...(cfg.natOutgoingAddress ? { natOutgoingAddress: cfg.natOutgoingAddress } : {}),
    ...(cfg.natPortRange ? { natPortRange: cfg.natPortRange } : {}),
    ...(cfg.iptablesNATOutgoingInterfaceFilter
      ? { natOutgoingInterfaceFilter: cfg.iptablesNATOutgoingInterfaceFilter }
      : {}),
    workloadSourceSpoofing: cfg.workloadSourceSpoofing ?? "Disabled",
    ipv6Support: cfg.ipv6Support ?? true,
    interfaceExclude: cfg.interfaceExclude ?? ["^kube-ipvs0$"],
    kubeNodePortRange: nodePorts ? [nodePorts.min, nodePorts.max] : [30000, 32767],
    masqFullyRandom: cfg.featureDetectOverride?.MASQFullyRandom ?? detected.masqFullyRandom ?? true,
    logPrefix: cfg.logPrefix ?? "calico-packet",
    ...(cfg.dropNflogGroup ? { dropNflogGroup: cfg.dropNflogGroup } : {}),
    failsafeInboundHostPorts: cfg.failsafeInboundHostPorts ?? DEFAULT_FAILSAFE_INBOUND,
    failsafeOutboundHostPorts: cfg.failsafeOutboundHostPorts ?? DEFAULT_FAILSAFE_OUTBOUND,
  };
}

export function sameSettings(a: RuleSettings, b: RuleSettings): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
