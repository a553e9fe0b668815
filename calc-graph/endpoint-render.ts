// A local workload endpoint in the snapshot being built: its filter chains
// per family and direction (the tiers and profiles that apply, in order), its
// EndpointState, its local routes and its interface's sysctls. Split from
// StateBuilder, which calls these for the dirty endpoints of a flush.

import { castDraft, type Draft } from "immer";
import { interfaceSysctls } from "../ifaces/sysctls.js";
import type { Chain } from "../model/rule.js";
import type { TableName } from "../model/tables.js";
import type { ActiveRulesCalculator } from "./active-rules.js";
import type { RuleSettings } from "./config/settings.js";
import type { DesiredState, EndpointState } from "./desired-state.js";
import type { IpVersion, WorkloadEndpoint } from "./model.js";
import type { NodeRoutes } from "./network/node-routes.js";
import { peek } from "./plain.js";
import { type EncapDrops, renderEndpointRules } from "./rules/endpoint.js";
import type { FilterActions } from "./rules/filter-actions.js";
import { type Direction, endpointChainName, policyChainName, profileChainName } from "./rules/names.js";
import { spoofable } from "./rules/rpf-skip.js";
import { endpointTiers } from "./tiers.js";

const FAMILIES: readonly IpVersion[] = [4, 6];
const DIRECTIONS: readonly Direction[] = ["inbound", "outbound"];

/** What the builder holds that an endpoint's rendering reads (settings and actions as of this flush). */
export interface EndpointContext {
  readonly active: ActiveRulesCalculator;
  readonly settings: RuleSettings;
  readonly actions: FilterActions;
  readonly encapDrops: EncapDrops;
  readonly rpFilter: string;
  readonly nodeRoutes: NodeRoutes;
  putChain(v: IpVersion, table: TableName, chain: Chain | undefined, name: string): void;
}

export function putEndpoint(d: Draft<DesiredState>, ep: WorkloadEndpoint, cx: EndpointContext): void {
  const ingressTiers = endpointTiers(cx.active.orderedTiers(ep.key, "ingress"));
  const egressTiers = endpointTiers(cx.active.orderedTiers(ep.key, "egress"));
  for (const v of FAMILIES) {
    for (const dir of DIRECTIONS) {
      const tiers = (dir === "inbound" ? ingressTiers : egressTiers).map((t) => ({
        name: t.name,
        defaultAction: t.defaultAction,
        chains: t.policies.map((k) => policyChainName(dir, k)),
      }));
      const profiles = ep.profileIds.map((id) => profileChainName(dir, id));
      const name = endpointChainName(dir, ep.iface);
      const encap = dir === "outbound" ? cx.encapDrops : undefined;
      const rules = renderEndpointRules(tiers, profiles, cx.actions, v, encap, name);
      cx.putChain(v, "filter", { name, rules }, name);
    }
  }
  const state: EndpointState = {
    key: ep.key,
    namespace: ep.namespace,
    pod: ep.pod,
    node: ep.node,
    iface: ep.iface,
    ipv4Nets: ep.ipv4Nets,
    ipv6Nets: ep.ipv6Nets,
    profiles: ep.profileIds,
    ingressPolicies: ingressTiers.flatMap((t) => t.policies),
    egressPolicies: egressTiers.flatMap((t) => t.policies),
    ingressTiers,
    egressTiers,
  };
  if (!sameEndpoint(peek(d.endpoints, ep.key), state)) d.endpoints[ep.key] = castDraft(state);
  for (const net of [...ep.ipv4Nets, ...ep.ipv6Nets]) cx.nodeRoutes.putLocalRoute(d, net, ep.key, ep.iface);
  const sysctls = interfaceSysctls(ep.iface, {
    ipv4: ep.ipv4Nets.length > 0,
    ipv6: ep.ipv6Nets.length > 0,
    // The kernel's own check would drop the allowed spoofed sources: off for such interfaces, as in Felix.
    rpFilter: spoofable(ep, cx.settings) ? "0" : cx.rpFilter,
  });
  for (const [k, val] of Object.entries(sysctls)) if (d.sysctls[k] !== val) d.sysctls[k] = val;
  // A family the endpoint no longer has: its sysctls go (the superset names every key it could have set).
  for (const k of Object.keys(interfaceSysctls(ep.iface, { ipv4: true, ipv6: true, rpFilter: "" }))) {
    if (!(k in sysctls) && k in d.sysctls) delete d.sysctls[k];
  }
}

/** Removes what `before` had and `ep` (the endpoint's new version, if any) no longer has (its chains: putIface). */
export function removeEndpoint(
  d: Draft<DesiredState>,
  before: EndpointState,
  ep: WorkloadEndpoint | undefined,
  nodeRoutes: NodeRoutes,
): void {
  const keep = new Set(ep ? [...ep.ipv4Nets, ...ep.ipv6Nets] : []);
  for (const net of [...before.ipv4Nets, ...before.ipv6Nets]) {
    if (!keep.has(net)) nodeRoutes.deleteLocalRoute(d, net, before.key);
  }
  if (!ep) delete d.endpoints[before.key];
}

function sameEndpoint(a: EndpointState | undefined, b: EndpointState): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}
