// raw cali-rpf-skip (Felix's endpoint manager): with workloadSourceSpoofing
// Any, a pod's `cni.projectcalico.org/allowedSourcePrefixes` are accepted
// from its own interface before the strict reverse-path check drops them.

import { Actions, type Chain, match, rule } from "../../model/rule.js";
import type { RuleSettings } from "../config/settings.js";
import type { IpVersion, WorkloadEndpoint } from "../model.js";
import { RPF_SKIP_CHAIN } from "./static.js";

/** Whether the endpoint's allowedSourcePrefixes are in force. */
export function spoofable(ep: WorkloadEndpoint, settings: RuleSettings): boolean {
  return settings.workloadSourceSpoofing === "Any" && (ep.allowSpoofedSourcePrefixes?.length ?? 0) > 0;
}

/** The chain for one family: one ACCEPT per (interface, prefix), sorted by interface. */
export function rpfSkipChain(eps: Iterable<WorkloadEndpoint>, settings: RuleSettings, v: IpVersion): Chain {
  const chosen = [...eps].filter((ep) => spoofable(ep, settings));
  chosen.sort((a, b) => (a.iface < b.iface ? -1 : a.iface > b.iface ? 1 : 0));
  const rules = chosen.flatMap((ep) =>
    (ep.allowSpoofedSourcePrefixes ?? [])
      .filter((p) => p.includes(":") === (v === 6))
      .map((p) => rule(match().inInterface(ep.iface).sourceNet(p).build(), Actions.accept)),
  );
  return { name: RPF_SKIP_CHAIN, rules };
}
