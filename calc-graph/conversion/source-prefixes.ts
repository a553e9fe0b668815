// The pod annotation `cni.projectcalico.org/allowedSourcePrefixes`: a JSON
// list of CIDRs the pod may send from besides its own addresses
// (libcalico-go's HandleSourceIPSpoofingAnnotation). Felix honours it only
// with workloadSourceSpoofing Any; a malformed one fails the pod's conversion.

import { parseCidr } from "./cidr.js";

export const ALLOWED_SOURCE_PREFIXES_ANNOTATION = "cni.projectcalico.org/allowedSourcePrefixes";

/** Canonical CIDRs, sorted and unique; [] when the annotation is absent or empty. */
export function allowedSourcePrefixes(annotations: Readonly<Record<string, string>> | undefined): string[] {
  const raw = annotations?.[ALLOWED_SOURCE_PREFIXES_ANNOTATION];
  if (raw === undefined || raw === "") return [];
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch (e) {
    throw new Error(`${ALLOWED_SOURCE_PREFIXES_ANNOTATION}: not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(list)) throw new Error(`${ALLOWED_SOURCE_PREFIXES_ANNOTATION}: not a JSON list of CIDRs`);
  const out = new Set<string>();
  for (const item of list) {
    try {
      out.add(parseCidr(String(item)).text);
    } catch (e) {
      throw new Error(`${ALLOWED_SOURCE_PREFIXES_ANNOTATION}: ${(e as Error).message}`);
    }
  }
  return [...out].sort();
}
