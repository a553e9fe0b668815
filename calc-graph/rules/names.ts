// Chain names, as Felix names them.

import { lengthLimitedName } from "../../model/names.js";

export const POLICY_INBOUND_PREFIX = "cali-pi-";
export const POLICY_OUTBOUND_PREFIX = "cali-po-";
export const PROFILE_INBOUND_PREFIX = "cali-pri-";
export const PROFILE_OUTBOUND_PREFIX = "cali-pro-";
export const TO_WORKLOAD_PREFIX = "cali-tw-";
export const FROM_WORKLOAD_PREFIX = "cali-fw-";
export const FROM_WORKLOAD_DISPATCH = "cali-from-wl-dispatch";
export const TO_WORKLOAD_DISPATCH = "cali-to-wl-dispatch";

export type Direction = "inbound" | "outbound";

export const policyChainName = (dir: Direction, policyKey: string) =>
  lengthLimitedName(dir === "inbound" ? POLICY_INBOUND_PREFIX : POLICY_OUTBOUND_PREFIX, policyKey);

export const profileChainName = (dir: Direction, profileId: string) =>
  lengthLimitedName(dir === "inbound" ? PROFILE_INBOUND_PREFIX : PROFILE_OUTBOUND_PREFIX, profileId);

/** Ingress policy for a workload is its `cali-tw-` chain; egress its `cali-fw-`. */
export const endpointChainName = (dir: Direction, iface: string) =>
  (dir === "inbound" ? TO_WORKLOAD_PREFIX : FROM_WORKLOAD_PREFIX) + iface;
