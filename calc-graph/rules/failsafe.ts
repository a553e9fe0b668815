// cali-failsafe-in / cali-failsafe-out (Felix's failsafeInChain /
// failsafeOutChain): ACCEPT the failsafe ports before any host endpoint
// policy runs. In raw, before conntrack, the replies of the other direction's
// failsafe connections are accepted too, so untracked (doNotTrack) policy
// cannot leave half a failsafe connection untracked.

import { Actions, type Chain, match, type Rule, rule } from "../../model/rule.js";
import type { TableName } from "../../model/tables.js";
import type { ProtoPort } from "../config/failsafe.js";
import type { RuleSettings } from "../config/settings.js";
import { familyOf } from "../conversion/cidr.js";
import type { IpVersion } from "../model.js";
import { FAILSAFE_IN, FAILSAFE_OUT } from "./host-endpoint-names.js";

type Peer = "source" | "dest";

/** One ACCEPT per entry of this family: by destination port, or (replies, raw only) by source port. */
function accepts(entries: readonly ProtoPort[], v: IpVersion, byPort: "dst" | "src", peer: Peer): Rule[] {
  const out: Rule[] = [];
  for (const e of entries) {
    if (e.net && familyOf(e.net) !== v) continue;
    const m = match().protocol(e.protocol);
    if (e.net) {
      if (peer === "source") m.sourceNet(e.net);
      else m.destNet(e.net);
    }
    if (byPort === "dst") m.destPorts(String(e.port));
    else m.sourcePorts(String(e.port));
    out.push(rule(m.build(), Actions.accept));
  }
  return out;
}

export function failsafeChains(s: RuleSettings, table: TableName, v: IpVersion): Chain[] {
  const inbound = s.failsafeInboundHostPorts;
  const outbound = s.failsafeOutboundHostPorts;
  const raw = table === "raw";
  return [
    {
      name: FAILSAFE_IN,
      rules: [...accepts(inbound, v, "dst", "source"), ...(raw ? accepts(outbound, v, "src", "source") : [])],
    },
    {
      name: FAILSAFE_OUT,
      rules: [...accepts(outbound, v, "dst", "dest"), ...(raw ? accepts(inbound, v, "src", "dest") : [])],
    },
  ];
}
