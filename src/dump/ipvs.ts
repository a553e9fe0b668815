// `felix-dump ipvs`: the desired IPVS table in `ipvsadm -Ln` layout (counters
// 0: it is what the agent wants, not what the kernel counted), plus the
// service IPs for the dummy device.

import type { DesiredState } from "../../calc-graph/desired-state.js";
import { type IpvsDesired, ipvsDesiredTable } from "../../calc-graph/services/ipvs-desired.js";
import { formatIpvsadmList } from "../../ipvs/ipvsadm-text.js";

const NONE: IpvsDesired = { device: "", services: {}, boundAddresses: [], nodeAddresses: [], nodePortRange: [0, 0] };

/** The table as `ipvsadm -Ln` prints it (headers only when there is no IPVS state). */
export function ipvsText(s: DesiredState): string {
  return formatIpvsadmList(ipvsDesiredTable(s.ipvs ?? NONE));
}

export function ipvsJson(s: DesiredState): unknown {
  return s.ipvs ?? null;
}
