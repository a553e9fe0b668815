// The one table of FelixConfiguration fields felix-ts knows: which it honours
// (from a FelixConfiguration and from FELIX_<FIELD> in upper case, Felix's
// env name), and which it does not implement. A field that is set, is not
// implemented, and is not at a value that means "off" is reported by name
// (log and /readiness), so nobody believes, say, pod traffic is encrypted
// when it is not. Precedence, as in Felix: `default` < `node.<name>` < env.

import { type ProtoPort, protoPortList } from "./failsafe.js";
import {
  bool,
  featureOverrides,
  iface,
  ifaceList,
  ifaceRegexpList,
  int,
  ipv4,
  logPrefix,
  markMask,
  oneOf,
  type Parser,
  type PortRange,
  pattern,
  portRange,
  portRangeList,
} from "./parse.js";

/** The fields felix-ts honours (undefined: not set at this level). */
export interface FelixConfig {
  // Networking (calc-graph/network).
  readonly vxlanEnabled?: boolean;
  readonly vxlanEnabledV6?: boolean;
  readonly ipipEnabled?: boolean;
  readonly vxlanVNI?: number;
  readonly vxlanPort?: number;
  readonly vxlanMTU?: number;
  readonly vxlanMTUV6?: number;
  readonly ipipMTU?: number;
  readonly mtuIfacePattern?: string;
  // Rule rendering (config/settings.ts).
  readonly defaultEndpointToHostAction?: "DROP" | "RETURN" | "ACCEPT";
  readonly iptablesFilterAllowAction?: "ACCEPT" | "RETURN";
  readonly iptablesFilterDenyAction?: "DROP" | "REJECT";
  readonly chainInsertMode?: "insert" | "append";
  readonly iptablesMarkMask?: number;
  readonly natOutgoingAddress?: string;
  readonly natPortRange?: PortRange;
  readonly iptablesNATOutgoingInterfaceFilter?: string;
  readonly workloadSourceSpoofing?: "Disabled" | "Any";
  readonly allowVXLANPacketsFromWorkloads?: boolean;
  readonly allowIPIPPacketsFromWorkloads?: boolean;
  readonly ipv6Support?: boolean;
  readonly interfacePrefix?: readonly string[];
  readonly interfaceExclude?: readonly string[];
  /** IPVS support: NodePorts count as forwarded in cali-forward-check (the first range is used). */
  readonly kubeNodePortRanges?: readonly PortRange[];
  /** Prefix of Log rules' kernel log lines (%t tier, %k kind, %n name, %p namespace/name). */
  readonly logPrefix?: string;
  /** Calico's nftables dataplane: Enabled, Disabled, or Auto (follow kube-proxy); the agent decides it at start (src/nftables-mode.ts). */
  readonly nftablesMode?: "Enabled" | "Disabled" | "Auto";
  /** felix-ts's own: NFLOG group the drop paths copy dropped packets to (`felix-dump drops --live`); unset: off. */
  readonly dropNflogGroup?: number;
  /** Host endpoints: ports their policy never blocks (config/failsafe.ts). */
  readonly failsafeInboundHostPorts?: readonly ProtoPort[];
  readonly failsafeOutboundHostPorts?: readonly ProtoPort[];
  /** Overrides of feature detection, e.g. MASQFullyRandom=false. */
  readonly featureDetectOverride?: Readonly<Record<string, boolean>>;
  /** Set fields felix-ts does not implement: spec name → value as given. */
  readonly unimplemented?: Readonly<Record<string, string>>;
}

type Honoured = Exclude<keyof FelixConfig, "unimplemented">;

/** Honoured fields: spec name → parser. Env name: `FELIX_` + the spec name upper-cased, except where noted. */
export const HONOURED: { readonly [K in Honoured]-?: Parser<NonNullable<FelixConfig[K]>> } = {
  vxlanEnabled: bool,
  vxlanEnabledV6: bool,
  ipipEnabled: bool,
  vxlanVNI: int(1, 16777215),
  vxlanPort: int(1, 65535),
  vxlanMTU: int(0, 65535),
  vxlanMTUV6: int(0, 65535),
  ipipMTU: int(0, 65535),
  mtuIfacePattern: pattern,
  defaultEndpointToHostAction: oneOf("DROP", "RETURN", "ACCEPT"),
  iptablesFilterAllowAction: oneOf("ACCEPT", "RETURN"),
  iptablesFilterDenyAction: oneOf("DROP", "REJECT"),
  chainInsertMode: oneOf("insert", "append"),
  iptablesMarkMask: markMask,
  natOutgoingAddress: ipv4,
  natPortRange: portRange,
  iptablesNATOutgoingInterfaceFilter: iface,
  workloadSourceSpoofing: oneOf("Disabled", "Any"),
  allowVXLANPacketsFromWorkloads: bool,
  allowIPIPPacketsFromWorkloads: bool,
  ipv6Support: bool,
  interfacePrefix: ifaceList,
  interfaceExclude: ifaceRegexpList,
  kubeNodePortRanges: portRangeList,
  featureDetectOverride: featureOverrides,
  logPrefix,
  nftablesMode: oneOf("Enabled", "Disabled", "Auto"),
  dropNflogGroup: int(1, 65535),
  failsafeInboundHostPorts: protoPortList,
  failsafeOutboundHostPorts: protoPortList,
};

/** Felix's env names that are not the spec name upper-cased. */
const ENV_NAME: Partial<Record<string, string>> = { ipipEnabled: "IPINIPENABLED", ipipMTU: "IPINIPMTU" };

export const envName = (spec: string) => `FELIX_${ENV_NAME[spec] ?? spec.toUpperCase()}`;

/**
 * Fields felix-ts does not implement but that change nothing at these
 * values (Felix's defaults or "off"): they are not reported. `*` means any
 * value: the field tunes only logging, reporting or process knobs whose
 * felix-ts counterparts are FELIX_* variables (README), never what traffic
 * may pass.
 */
const INERT: Readonly<Record<string, readonly string[]>> = {
  wireguardEnabled: ["false"],
  wireguardEnabledV6: ["false"],
  bpfEnabled: ["false"],
  floatingIPs: ["disabled"],
  egressIPSupport: ["disabled"],
  ipsecMode: [""],
  xdpEnabled: ["*"], // XDP only accelerates host-endpoint untracked policy, which felix-ts has none of
  ipForwarding: ["enabled"],
  removeExternalRoutes: ["true"],
  serviceLoopPrevention: ["disabled"],
  flowLogsFileEnabled: ["false"],
  awsSrcDstCheck: ["donothing"],
  iptablesBackend: ["*"],
  iptablesRefreshInterval: ["*"],
  ipsetsRefreshInterval: ["*"],
  routeRefreshInterval: ["*"],
  interfaceRefreshInterval: ["*"],
  logSeverityScreen: ["*"],
  logSeverityFile: ["*"],
  logSeveritySys: ["*"],
  logFilePath: ["*"],
  logDebugFilenameRegex: ["*"],
  reportingInterval: ["*"],
  reportingTTL: ["*"],
  healthEnabled: ["*"],
  healthHost: ["*"],
  healthPort: ["*"],
  healthTimeoutOverrides: ["*"],
  prometheusMetricsEnabled: ["*"],
  prometheusMetricsHost: ["*"],
  prometheusMetricsPort: ["*"],
  prometheusGoMetricsEnabled: ["*"],
  prometheusProcessMetricsEnabled: ["*"],
  prometheusWireGuardMetricsEnabled: ["*"],
  usageReportingEnabled: ["*"],
  usageReportingInitialDelay: ["*"],
  usageReportingInterval: ["*"],
  debugMemoryProfilePath: ["*"],
  debugDisableLogDropping: ["*"],
  debugSimulateCalcGraphHangAfter: ["*"],
  debugSimulateDataplaneHangAfter: ["*"],
  dataplaneWatchdogTimeout: ["*"],
  endpointStatusPathPrefix: ["*"],
  endpointReportingEnabled: ["*"],
  endpointReportingDelay: ["*"],
};

/** Whether a set, unimplemented field at this value changes nothing. */
export function isInert(spec: string, value: string): boolean {
  // Every bpf*/wireguard* tuning knob is moot while bpfEnabled/wireguardEnabled (reported themselves) are off.
  if (/^bpf./.test(spec) && spec !== "bpfEnabled") return true;
  if (/^wireguard./.test(spec) && !/^wireguardEnabled(V6)?$/.test(spec)) return true;
  const ok = INERT[spec];
  return ok !== undefined && (ok.includes("*") || ok.includes(value.trim().toLowerCase()));
}

/** Effective config: `default` < `node.<name>` < env, field by field (unimplemented ones too). */
export function mergeConfigs(...levels: (FelixConfig | undefined)[]): FelixConfig {
  const out: Record<string, unknown> = {};
  const unimplemented: Record<string, string> = {};
  for (const l of levels) {
    if (!l) continue;
    for (const [k, v] of Object.entries(l)) if (k !== "unimplemented" && v !== undefined) out[k] = v;
    Object.assign(unimplemented, l.unimplemented);
  }
  if (Object.keys(unimplemented).length > 0) out.unimplemented = unimplemented;
  return out as FelixConfig;
}

/** The set fields of `cfg` that felix-ts does not implement and that are not inert, as `field=value`, sorted. */
export function ignoredFields(cfg: FelixConfig): string[] {
  return Object.entries(cfg.unimplemented ?? {})
    .filter(([k, v]) => !isInert(k, v))
    .map(([k, v]) => `${k}=${v}`)
    .sort();
}

/**
 * Parses one level: a FelixConfiguration spec (`get` by spec name) or the
 * environment. `others` lists the other set fields (spec names with their
 * values); they go to `unimplemented`.
 */
export function parseFelixConfig(
  get: (spec: string) => unknown,
  label: (spec: string) => string,
  others: Iterable<[string, unknown]>,
): FelixConfig {
  const out: Record<string, unknown> = {};
  for (const [spec, parse] of Object.entries(HONOURED) as [string, Parser<unknown>][]) {
    const v = parse(label(spec), get(spec));
    if (v !== undefined) out[spec] = v;
  }
  const unimplemented: Record<string, string> = {};
  for (const [spec, v] of others) {
    if (spec in HONOURED || v === undefined || v === null || v === "") continue;
    unimplemented[spec] = typeof v === "object" ? JSON.stringify(v) : String(v);
  }
  if (Object.keys(unimplemented).length > 0) out.unimplemented = unimplemented;
  return out as FelixConfig;
}

/** A FelixConfiguration's spec. */
export function felixConfigFromSpec(spec: Readonly<Record<string, unknown>>): FelixConfig {
  return parseFelixConfig(
    (s) => spec[s],
    (s) => `FelixConfiguration spec.${s}`,
    Object.entries(spec),
  );
}

/**
 * FELIX_* variables: the honoured fields, and the unimplemented fields this
 * table names (FELIX_WIREGUARDENABLED=true is reported); other FELIX_*
 * variables are felix-ts's own or unknown and are left alone.
 */
export function felixConfigFromEnv(env: Readonly<Record<string, string | undefined>>): FelixConfig {
  const known = ["wireguardEnabled", "wireguardEnabledV6", "bpfEnabled", "floatingIPs", "ipsecMode"];
  const others: [string, unknown][] = known.map((s) => [s, env[envName(s)]]);
  return parseFelixConfig(
    (s) => env[envName(s)],
    (s) => envName(s),
    others,
  );
}
