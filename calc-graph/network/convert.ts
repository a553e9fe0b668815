// IPPool, BlockAffinity and FelixConfiguration → the networking model, with
// Calico's defaults (blockSize 26/122, modes Never, nodeSelector all()) and
// validation; a bad object throws a clear Error (reported as a problem).

import type { FelixConfiguration, IPPool, BlockAffinity as K8sBlockAffinity } from "../../model/k8s.js";
import { felixConfigFromEnv, felixConfigFromSpec } from "../config/fields.js";
import { parseCidr } from "../conversion/cidr.js";
import { parseSelector } from "../selector/parse.js";
import type { BlockAffinity, EncapMode, FelixNetworkConfig, IpPool } from "./model.js";

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

/** Every field felix-ts reads from a FelixConfiguration (the table is config/fields.ts). */
export function felixConfigurationToConfig(obj: FelixConfiguration): FelixNetworkConfig {
  return felixConfigFromSpec(obj.spec ?? {});
}

/** The same fields from FELIX_* variables (FELIX_VXLANVNI, FELIX_DEFAULTENDPOINTTOHOSTACTION, …). */
export function felixNetworkConfigFromEnv(env: Readonly<Record<string, string | undefined>>): FelixNetworkConfig {
  return felixConfigFromEnv(env);
}
