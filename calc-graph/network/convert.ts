// IPPool, BlockAffinity and FelixConfiguration → the networking model, with
// Calico's defaults (blockSize 26/122, modes Never, nodeSelector all()) and
// validation; a bad object throws a clear Error (reported as a problem).

import type { FelixConfiguration, IPPool, BlockAffinity as K8sBlockAffinity } from "../../src/model/k8s.js";
import { parseCidr } from "../conversion/cidr.js";
import { parseSelector } from "../selector/parse.js";
import type { BlockAffinity, EncapMode, FelixNetworkConfig, IpPool } from "./model.js";
import { unsafeRegexReason } from "./safe-regex.js";

const MODES: readonly EncapMode[] = ["Always", "CrossSubnet", "Never"];

function mode(field: string, v: unknown): EncapMode {
  if (v === undefined || v === null || v === "") return "Never";
  const m = MODES.find((x) => x.toLowerCase() === String(v).toLowerCase());
  if (!m) throw new Error(`${field} must be Always, CrossSubnet or Never, not ${JSON.stringify(v)}`);
  return m;
}

export function ipPoolToPool(obj: IPPool): IpPool {
  const name = obj.metadata?.name;
  if (!name) throw new Error("IPPool has no metadata.name");
  const s = obj.spec ?? {};
  if (!s.cidr) throw new Error("IPPool has no spec.cidr");
  const cidr = parseCidr(s.cidr);
  const max = cidr.version === 4 ? 32 : 128;
  const blockSize = s.blockSize ?? (cidr.version === 4 ? 26 : 122);
  const len = Number(cidr.text.split("/")[1]);
  if (!Number.isInteger(blockSize) || blockSize < (cidr.version === 4 ? 20 : 116) || blockSize > max) {
    throw new Error(`IPPool blockSize ${JSON.stringify(s.blockSize)} is out of range for IPv${cidr.version}`);
  }
  if (blockSize < len) throw new Error(`IPPool blockSize ${blockSize} is larger than the pool ${cidr.text}`);
  const ipipMode = mode("ipipMode", s.ipipMode);
  const vxlanMode = mode("vxlanMode", s.vxlanMode);
  if (ipipMode !== "Never" && vxlanMode !== "Never") {
    throw new Error("IPPool cannot use both ipipMode and vxlanMode");
  }
  if (cidr.version === 6 && ipipMode !== "Never") throw new Error("IPIP is not supported for IPv6 pools");
  let nodeSelector: IpPool["nodeSelector"];
  try {
    nodeSelector = parseSelector(s.nodeSelector ?? "all()");
  } catch (e) {
    throw new Error(`IPPool nodeSelector: ${(e as Error).message}`);
  }
  return {
    name,
    cidr: cidr.text,
    family: cidr.version,
    blockSize,
    ipipMode,
    vxlanMode,
    natOutgoing: s.natOutgoing === true,
    disabled: s.disabled === true,
    nodeSelector,
  };
}

/** A block affinity, or null when it does not hold (pending, or being deleted). */
export function blockAffinityToAffinity(obj: K8sBlockAffinity): BlockAffinity | null {
  const name = obj.metadata?.name;
  if (!name) throw new Error("BlockAffinity has no metadata.name");
  const s = obj.spec ?? {};
  if (!s.node) throw new Error("BlockAffinity has no spec.node");
  if (!s.cidr) throw new Error("BlockAffinity has no spec.cidr");
  const cidr = parseCidr(s.cidr).text;
  if (s.deleted === true || s.deleted === "true") return null;
  if (s.state !== undefined && s.state !== "confirmed") return null;
  return { name, node: s.node, cidr };
}

function int(field: string, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${field} must be an integer in ${min}..${max}, not ${JSON.stringify(v)}`);
  return n;
}

function bool(field: string, v: unknown): boolean | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v === "boolean") return v;
  if (/^(true|1|yes|on)$/i.test(String(v))) return true;
  if (/^(false|0|no|off)$/i.test(String(v))) return false;
  throw new Error(`${field} must be true or false, not ${JSON.stringify(v)}`);
}

/** A regular expression we may run: valid, and linear-time (network/safe-regex.ts). */
function pattern(field: string, v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const why = unsafeRegexReason(String(v));
  if (why) throw new Error(`${field} is refused as a regular expression: ${why}`);
  return String(v);
}

/** The fields felix-ts reads, from a FelixConfiguration spec or from FELIX_* variables. */
function networkConfig(
  get: (specName: string, envName: string) => unknown,
  label: (specName: string, envName: string) => string,
): FelixNetworkConfig {
  const f = (specName: string, envName: string) => [label(specName, envName), get(specName, envName)] as const;
  const out: Record<string, unknown> = {
    vxlanEnabled: bool(...f("vxlanEnabled", "VXLANENABLED")),
    ipipEnabled: bool(...f("ipipEnabled", "IPINIPENABLED")),
    vxlanVNI: int(...f("vxlanVNI", "VXLANVNI"), 1, 16777215),
    vxlanPort: int(...f("vxlanPort", "VXLANPORT"), 1, 65535),
    vxlanMTU: int(...f("vxlanMTU", "VXLANMTU"), 0, 65535),
    ipipMTU: int(...f("ipipMTU", "IPINIPMTU"), 0, 65535),
    mtuIfacePattern: pattern(...f("mtuIfacePattern", "MTUIFACEPATTERN")),
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out as FelixNetworkConfig;
}

export function felixConfigurationToConfig(obj: FelixConfiguration): FelixNetworkConfig {
  const spec = obj.spec ?? {};
  return networkConfig(
    (specName) => spec[specName],
    (specName) => `FelixConfiguration spec.${specName}`,
  );
}

/** FELIX_VXLANVNI, FELIX_VXLANPORT, FELIX_VXLANMTU, FELIX_IPINIPMTU, FELIX_MTUIFACEPATTERN, FELIX_VXLANENABLED, FELIX_IPINIPENABLED. */
export function felixNetworkConfigFromEnv(env: Readonly<Record<string, string | undefined>>): FelixNetworkConfig {
  return networkConfig(
    (_s, envName) => env[`FELIX_${envName}`],
    (_s, envName) => `FELIX_${envName}`,
  );
}
