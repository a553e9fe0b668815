// Chain names, as Felix names them.

import { hash } from "node:crypto";
import { lengthLimitedName, MAX_CHAIN_NAME_LENGTH } from "../../model/names.js";

export const POLICY_INBOUND_PREFIX = "cali-pi-";
export const POLICY_OUTBOUND_PREFIX = "cali-po-";
export const PROFILE_INBOUND_PREFIX = "cali-pri-";
export const PROFILE_OUTBOUND_PREFIX = "cali-pro-";
export const TO_WORKLOAD_PREFIX = "cali-tw-";
export const FROM_WORKLOAD_PREFIX = "cali-fw-";
export const FROM_WORKLOAD_DISPATCH = "cali-from-wl-dispatch";
export const TO_WORKLOAD_DISPATCH = "cali-to-wl-dispatch";

export type Direction = "inbound" | "outbound";

/** Characters a chain name may hold as they are; a key with others (`gnp/x`) is always hashed. */
const SAFE_ID = /^[A-Za-z0-9_.:-]*$/;

/** Felix's length-limited name over the policy key; one that would not be a safe token is hashed whatever its length. */
export function policyChainName(dir: Direction, policyKey: string): string {
  const prefix = dir === "inbound" ? POLICY_INBOUND_PREFIX : POLICY_OUTBOUND_PREFIX;
  if (SAFE_ID.test(policyKey)) return lengthLimitedName(prefix, policyKey);
  return `${prefix}_${hash("sha256", policyKey, "base64url")}`.slice(0, MAX_CHAIN_NAME_LENGTH);
}

export const profileChainName = (dir: Direction, profileId: string) =>
  lengthLimitedName(dir === "inbound" ? PROFILE_INBOUND_PREFIX : PROFILE_OUTBOUND_PREFIX, profileId);

/** Ingress policy for a workload is its `cali-tw-` chain; egress its `cali-fw-`. */
export const endpointChainName = (dir: Direction, iface: string) =>
  (dir === "inbound" ? TO_WORKLOAD_PREFIX : FROM_WORKLOAD_PREFIX) + iface;
